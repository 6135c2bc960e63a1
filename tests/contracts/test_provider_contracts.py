"""Provider contracts: what the Volcengine API documents, checked on everything the stacks
register under mocks (mocks accept anything; the cloud does not).

The rules are data with their sources (fastapi_deploy.stack_model.volcengine_rules). Here they
run over the prod fleet, the single host, the example and generated configurations; and each
bug the cloud would have refused (a scaling configuration without a login, a description
with parentheses, a path-style request to TOS) is put back once to show it is caught.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from fastapi_deploy.components import SecurityGroupArgs
from fastapi_deploy.stack_model import volcengine_rules as rules
from fastapi_deploy.stack_model.stack_config import StackConfigError, load_stack_config
from fastapi_deploy.testing import ProgramRun, config_text, run_stack
from tests.mocks.harness import REPO, load_stack_file, run_main

# Types that carry nothing but ids of other resources: no documented rule applies to them.
ONLY_IDS = {
    "volcengine:autoscaling/scalingConfigurationAttachment:ScalingConfigurationAttachment",
    "volcengine:autoscaling/scalingGroupEnabler:ScalingGroupEnabler",
    "volcengine:rds_postgresql/allowlistAssociate:AllowlistAssociate",
}


def violations(run: ProgramRun) -> list[rules.Violation]:
    return rules.check_resources(
        (item.type, item.name, item.inputs) for item in run.registrations if item.type.startswith("volcengine:")
    )


def volcengine_types(run: ProgramRun) -> set[str]:
    return {item.type for item in run.registrations if item.type.startswith("volcengine:")}


@pytest.fixture(scope="module")
def stacks() -> Iterator[dict[str, ProgramRun]]:
    yield {
        "prod fleet": run_main("prod"),
        "prod single host": run_main("prod", {"fleetEnabled": False}),
        "prod with every option": run_main(
            "prod",
            {
                "alarmContactPhone": "+8613800000000",
                "adminSshKeys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOq4aEt67xZrTi4i1r2kYFBea+nD2McttE6fVJKiTsHK ops"],
                "healthzGate": True,
                "imageId": "image-ybqi99s7yq8rx7mnk44b",
                "appEnv": ["LOG_LEVEL=info"],
            },
        ),
        "example": run_stack(REPO / "examples" / "fleet-behind-clb", "demo"),
    }


def test_every_stack_passes_every_documented_rule(stacks: dict[str, ProgramRun]) -> None:
    for label, run in stacks.items():
        assert [str(item) for item in violations(run)] == [], label


def test_every_volcengine_type_we_create_has_rules(stacks: dict[str, ProgramRun]) -> None:
    created = set().union(*(volcengine_types(run) for run in stacks.values())) - {"pulumi:providers:volcengine"}
    with_rules = {rule.resource for rule in rules.RULES}
    assert created - ONLY_IDS <= with_rules, sorted(created - ONLY_IDS - with_rules)


def test_every_rule_names_its_source() -> None:
    for rule in rules.RULES:
        assert rule.source.startswith(("https://", rules.TF, rules.CC, "terraform-provider-volcenginecc@", "ve-tos-golang-sdk@")), rule


# --- the three bugs, put back ---------------------------------------------------------------------


def test_a_scaling_configuration_without_password_or_key_pair_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import fastapi_deploy.components.app_fleet as app_fleet

    monkeypatch.setattr(app_fleet, "console_password", lambda parent, name: None)
    found = violations(run_main("prod"))
    assert [(item.resource_type, item.path) for item in found] == [
        ("volcengine:autoscaling/scalingConfiguration:ScalingConfiguration", "password|keyPairName")
    ]
    assert "AtLeastOneOf" in found[0].source


def test_descriptions_the_vpc_api_refuses_are_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import fastapi_deploy.components.network as network

    monkeypatch.setattr(network, "VPC_DESCRIPTION", "Managed by Pulumi (fastapi-deploy)")
    found = violations(run_main("prod"))
    assert [(item.resource_type, item.path) for item in found] == [("volcengine:vpc/vpc:Vpc", "description")]
    # The security group's description is checked when its Args are built, before any run.
    with pytest.raises(ValidationError, match=r"not a valid VPC description"):
        SecurityGroupArgs(vpc_id="vpc", description="App hosts: HTTP and HTTPS from anywhere")


def _request_url(style: str | None) -> str:
    """The URL the sample app's storage client sends a HEAD bucket to, for a TOS bucket."""
    from notes_api.settings import load_settings
    from notes_api.storage import ObjectStorage

    environ = {
        "DATABASE_URL": "postgresql://app:pw@db:5432/app",
        "S3_ENDPOINT_URL": "https://tos-s3-cn-beijing.ivolces.com",
        "S3_BUCKET": "app-files-k3q9x2ab",
        "S3_REGION": "cn-beijing",
        "S3_ACCESS_KEY_ID": "AK",
        "S3_SECRET_ACCESS_KEY": "SK",
    }
    if style is not None:
        environ["S3_ADDRESSING_STYLE"] = style
    storage = ObjectStorage(load_settings(environ))
    sent: list[str] = []

    class EmptyBody:
        def stream(self, **_: Any) -> Iterator[bytes]:
            yield b""

    def capture(request: Any, **_: Any) -> Any:
        from botocore.awsrequest import AWSResponse

        sent.append(request.url)
        return AWSResponse(request.url, 200, {}, EmptyBody())  # answered here: nothing leaves the machine

    storage.client.meta.events.register("before-send.s3", capture)
    assert storage.bucket_problem() is None
    return sent[0]


def test_the_sample_app_addresses_tos_virtual_hosted_and_a_path_style_client_is_caught() -> None:
    url = _request_url(None)  # what a host rendered for TOS gets: the default
    assert url.startswith("https://app-files-k3q9x2ab.tos-s3-cn-beijing.ivolces.com")
    assert rules.tos_s3_request_problem(url, "app-files-k3q9x2ab") is None
    path_style = _request_url("path")  # the bug: path style against TOS
    problem = rules.tos_s3_request_problem(path_style, "app-files-k3q9x2ab")
    assert problem and "path-style" in problem


def test_the_stack_renders_virtual_addressing_for_tos() -> None:
    from tests.mocks.harness import shell_settings, written_files

    run = run_main("prod")
    files = written_files(run.one("volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"))
    assert shell_settings(files["/etc/api/env"])["S3_ADDRESSING_STYLE"] == "virtual"
    assert shell_settings(files["/etc/app-host/store.conf"])["STORE_ADDRESSING_STYLE"] == "virtual"


# --- the rules themselves, on the documents' own examples ---------------------------------------------


@pytest.mark.parametrize(
    ("rule", "good", "bad"),
    [
        ("VPC description", ["Managed by Pulumi for fastapi-deploy", "", "应用\uff0c主机\u3002", "a=b, c_d. e-f"], ["(x)", "a: b", "-lead", "https://x", "x" * 256]),
        ("VPC name", ["app-vpc", "a.b_c-d", "9lives"], ["-app", "app vpc", "a/b", ""]),
        ("ECS instance name", ["app-host-vm", "a.b_c"], ["1app", "app host", ""]),
        ("host name", ["app-fleet-host", "ab", "a.b-c"], ["a", "-ab", "ab-", "a--b", "a..b", "a_b", "x" * 64]),
        ("Auto Scaling name", ["app-fleet-group", "组_1"], ["app.fleet", "1fleet", "app fleet"]),
        ("CloudMonitor rule description", ["Instance_CpuBusy_above_85_for_3_min", ""], ["Instance_CpuBusy > 85", "3_min", "-x"]),
        ("RDS PostgreSQL identifier", ["app", "notes_rw", "a1"], ["app_", "1app", "pg_app", "a"]),
        ("IAM policy name", ["app-files-hosts-k3q9x2ab", "a+b=c,d.e@f"], ["a b", "a/b", ""]),
        ("TOS bucket name", ["app-files-k3q9x2ab"], ["App", "-app", "ab", "a_b"]),
    ],
)
def test_text_rules_on_documented_examples(rule: str, good: list[str], bad: list[str]) -> None:
    text_rule = rules.TEXT_RULES[rule]
    assert [value for value in good if text_rule.problem(value)] == []
    assert [value for value in bad if not text_rule.problem(value)] == []


def test_resource_rules_catch_what_the_api_refuses() -> None:
    scaling = "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"
    base64_17k = __import__("base64").b64encode(b"x" * 17000).decode()
    cases: list[tuple[str, dict[str, Any], str]] = [
        ("volcengine:clb/clb:Clb", {"eipBillingConfig": {"eipBillingType": "PostPaidByTraffic", "bandwidth": 500}}, "eipBillingConfig.bandwidth"),
        ("volcengine:clb/clb:Clb", {"slaveZoneId": "cn-beijing-b"}, "slaveZoneId"),
        (scaling, {"password": "x", "userData": base64_17k}, "userData"),
        (scaling, {"password": "x", "userData": "#cloud-config"}, "userData"),
        (scaling, {"password": "x", "volumes": [{"volumeType": "ESSD_PL1", "size": 40}]}, "volumes[0].volumeType"),
        ("volcengine:tos/bucketLifecycle:BucketLifecycle", {"rules": [
            {"id": "a", "status": "Enabled", "prefix": "", "expiration": {"days": 30}},
            {"id": "b", "status": "Enabled", "prefix": "backups/", "expiration": {"days": 7}},
        ]}, "rules"),
        ("volcengine:cloud_monitor/rule:Rule", {"evaluationCount": 4, "contactGroupIds": ["g"], "regions": ["cn-beijing"]}, "evaluationCount"),
        ("volcengine:cloud_monitor/rule:Rule", {"contactGroupIds": ["g"], "regions": ["cn-beijing", "cn-shanghai"]}, "regions"),
        ("volcengine:rds_postgresql/backupPolicy:BackupPolicy", {"backupRetentionPeriod": 7}, ""),
        ("volcengine:vpc/securityGroupRule:SecurityGroupRule", {"protocol": "tcp", "portStart": 0, "portEnd": 80, "cidrIp": "0.0.0.0/0"}, "portStart"),
        ("volcengine:vpc/securityGroupRule:SecurityGroupRule", {"protocol": "tcp", "portStart": 80, "portEnd": 80}, "cidrIp|sourceGroupId"),
        ("volcengine:iam/policy:Policy", {"policyName": "p", "policyDocument": "{not json"}, "policyDocument"),
    ]
    for typ, inputs, path in cases:
        found = {item.path for item in rules.check_inputs(typ, "x", inputs)}
        assert path in found, (typ, inputs, found)
    # And the same resources written right pass.
    lifecycle_ok = {"rules": [
        {"id": "a", "status": "Enabled", "prefix": "", "nonCurrentVersionExpiration": {"nonCurrentDays": 30}},
        {"id": "b", "status": "Enabled", "prefix": "backups/", "expiration": {"days": 7}},
    ]}
    assert rules.check_inputs("volcengine:tos/bucketLifecycle:BucketLifecycle", "x", lifecycle_ok) == []


# --- generated configurations ---------------------------------------------------------------------------


@st.composite
def configs(draw: st.DrawFn) -> dict[str, Any]:
    values, _ = load_stack_file("prod")
    values.update(
        {
            "fleetEnabled": draw(st.booleans()),
            "instanceType": draw(st.sampled_from(["ecs.c3il.large", "ecs.g3il.xlarge", "ecs.r3il.2xlarge"])),
            "systemDiskGib": draw(st.integers(20, 600)),
            "systemDiskType": draw(st.sampled_from(["ESSD_PL0", "ESSD_PL1", "ESSD_FlexPL", "PTSSD"])),
            "publicBandwidthMbps": draw(st.integers(1, 200)),
            "fleetMaxSize": draw(st.integers(2, 100)),
            "cpuEvaluationPeriods": draw(st.integers(1, 10)),
            "databaseStorageGib": draw(st.sampled_from([20, 100, 3000])),
            "databaseName": draw(st.sampled_from(["app", "notes", "orders_db"])),
            "alarmSilenceMinutes": draw(st.sampled_from([5, 30, 1440])),
            "appName": draw(st.sampled_from(["api", "notes", "shop-api"])),
            "region": draw(st.sampled_from(["cn-beijing", "cn-shanghai"])),
        }
    )
    values["zones"] = [f"{values['region']}-a", f"{values['region']}-b"]
    return values


def test_no_accepted_configuration_breaks_a_documented_rule() -> None:
    outcomes: Counter[str] = Counter()

    # derandomize: the same 60 examples each run, so the accepted/refused mix is stable.
    @settings(max_examples=60, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
    @given(configs())
    def check(values: dict[str, Any]) -> None:
        try:
            load_stack_config({key: config_text(value) for key, value in values.items()})
        except StackConfigError:
            outcomes["refused"] += 1
            return
        outcomes["accepted"] += 1
        assert [str(item) for item in violations(run_main("prod", values))] == []

    check()
    assert outcomes["accepted"] >= 20 and outcomes["refused"] >= 5, outcomes


def test_rules_are_serialisable_for_the_policy_pack() -> None:
    """The summaries and sources reach reports as plain text."""
    json.dumps([{"resource": rule.resource, "path": rule.path, "summary": rule.summary, "source": rule.source} for rule in rules.RULES])
    assert Path(rules.__file__).name == "volcengine_rules.py"
