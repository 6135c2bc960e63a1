"""StackConfig, the ingress catalogue and the instance table: the pure models the stacks use,
and the files generated from them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastapi_deploy.stack_model.host_spec import ArtifactRef
from fastapi_deploy.stack_model.ingress import (
    CATALOGUE,
    PROTECTED_PORTS,
    IngressRule,
    app_host_ingress_rules,
    catalogue_markdown,
    check_admin_cidr,
    parse_cidr,
    rule_from_catalogue,
    rules_opening_to_world,
)
from fastapi_deploy.stack_model.instance_types import INSTANCE_TYPES, UnknownInstanceType, instance_size
from fastapi_deploy.stack_model.stack_config import (
    StackConfig,
    StackConfigError,
    config_keys_markdown,
    database_url,
    load_stack_config,
    project_config_declarations,
    pulumi_project_file,
)
from tests.mocks.harness import DUMMY_SECRET, REPO, load_stack_file

BASE = {"domain": "api.notes-demo.cn", "acmeEmail": "ops@notes-demo.cn", "alarmContactEmail": "ops@notes-demo.cn"}


def load(**overrides: Any) -> StackConfig:
    return load_stack_config({**BASE, **overrides})


# --- Pulumi.yaml and the stack files --------------------------------------------------------------


def test_pulumi_yaml_is_generated_from_the_model() -> None:
    assert (REPO / "Pulumi.yaml").read_text() == pulumi_project_file(), (
        "Pulumi.yaml is stale: python -m fastapi_deploy.stack_model.stack_config > Pulumi.yaml"
    )


def test_docs_tables_are_generated_from_the_code() -> None:
    docs = (REPO / "docs" / "cloud-layer.md").read_text()
    assert catalogue_markdown() in docs, (
        "regenerate the ingress table: stack_model.ingress.catalogue_markdown()"
    )
    assert config_keys_markdown() in docs, (
        "regenerate the keys table: python -m fastapi_deploy.stack_model.stack_config --markdown"
    )


def test_every_key_is_documented_and_optional_keys_have_yaml_defaults() -> None:
    declarations = project_config_declarations()
    assert set(declarations) == {field.alias for field in StackConfig.model_fields.values()}
    for key, declaration in declarations.items():
        assert declaration["description"] and len(declaration["description"]) > 20, key
        assert declaration["type"] in {"string", "integer", "boolean", "array"}, key
    required = {key for key, declaration in declarations.items() if "default" not in declaration}
    assert required == {"domain"}
    for key, declaration in declarations.items():
        if key != "domain":
            assert "Default" in declaration["description"], f"{key} does not state its default"


def test_prod_stack_file_holds_the_production_decisions() -> None:
    values, secure = load_stack_file("prod")
    for key in (
        "region",
        "domain",
        "adminCidrs",
        "instanceType",
        "fleetMinSize",
        "fleetDesiredSize",
        "fleetMaxSize",
        "cpuScaleOutPercent",
        "cpuScaleInPercent",
        "databaseClass",
        "databaseStorageGib",
        "alarmContactEmail",
    ):
        assert key in values, key
    assert values["platform"] == "volcengine" and values["fleetEnabled"] is True
    assert secure == set()


def test_stack_files_hold_no_plain_secrets() -> None:
    for stack in ("prod", "dev"):
        document = yaml.safe_load((REPO / f"Pulumi.{stack}.yaml").read_text())
        for key, value in document["config"].items():
            if any(word in key.lower() for word in ("password", "secret", "token", "key")):
                assert isinstance(value, dict) and set(value) == {"secure"}, key


def test_secure_values_get_a_dummy_in_tests(tmp_path: Path) -> None:
    (tmp_path / "Pulumi.yaml").write_text("name: fastapi-deploy\nruntime: python\n")
    (tmp_path / "Pulumi.staging.yaml").write_text(
        "config:\n"
        "  fastapi-deploy:domain: api.example.com\n"
        "  fastapi-deploy:appSecretEnv:\n"
        "    secure: v1:c2FsdA==:Y2lwaGVydGV4dA==\n"
        "  volcengine:region: cn-beijing\n"
    )
    values, secure = load_stack_file("staging", root=tmp_path)
    assert values == {"domain": "api.example.com", "appSecretEnv": DUMMY_SECRET}
    assert secure == {"appSecretEnv"}


# --- loading: good and bad values ---------------------------------------------------------------------


def test_defaults_describe_a_single_host() -> None:
    config = load()
    assert config.platform == "volcengine" and not config.fleet_enabled
    assert config.zone_ids == ("cn-beijing-a", "cn-beijing-b")
    assert config.admin_cidrs == ()
    assert config.capacity().worker_count == 5  # 2 vCPU -> 2 * 2 + 1, fits in 8 GiB


def test_lists_and_numbers_arrive_as_strings() -> None:
    config = load_stack_config(
        {**BASE, "adminCidrs": '["100.64.12.0/24"]', "fleetEnabled": "true", "fleetMaxSize": "8"}
    )
    assert config.admin_cidrs == ("100.64.12.0/24",) and config.fleet_enabled and config.fleet_max_size == 8


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(StackConfigError) as raised:
        load_stack_config({**BASE, "fleetMinSzie": "1", "zonez": "[]"})
    lines = str(raised.value).splitlines()
    assert len(lines) == 2 and all(line.startswith("fastapi-deploy:") for line in lines)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"adminCidrs": '["10.0.0.5/24"]'}, r"adminCidrs = .*host bits set; the network is '10.0.0.0/24'"),
        ({"adminCidrs": '["100.64.12.0/24", "100.64.12.0/24"]'}, r"adminCidrs = .*listed twice; list each"),
        ({"adminCidrs": "100.64.12.0/24"}, r"adminCidrs = '100.64.12.0/24': not a list; write a YAML list"),
        ({"adminCidrs": '["office"]'}, r"adminCidrs = .*no prefix length"),
        ({"zones": '["cn-beijing-a"]'}, r"zones = .*fewer than two distinct zones; list at least two"),
        ({"zones": '["cn-shanghai-a", "cn-shanghai-b"]'}, r"zones = .*not zones of region 'cn-beijing'"),
        ({"zones": '["cn-beijing-a", "cn-beijing-b", "cn-beijing-a"]'}, r"zones = .*a zone is listed twice"),
        (
            {"vpcCidr": "10.20.0.0/22", "zones": json.dumps([f"cn-beijing-{z}" for z in "abcde"])},
            r"vpcCidr = '10.20.0.0/22': it holds 4 /24 subnets, fewer than the 5 zones; widen",
        ),
        ({"vpcCidr": "8.8.0.0/16"}, r"vpcCidr = '8.8.0.0/16': a VPC needs a private IPv4 range"),
        (
            {"fleetDesiredSize": "9"},
            r"fleetDesiredSize = '9': fleetMinSize \(2\) <= fleetDesiredSize \(9\) <= fleetMaxSize \(4\)",
        ),
        (
            {"cpuScaleOutPercent": "40", "cpuScaleInPercent": "30"},
            r"cpuScaleInPercent = '30': it is only 10 points",
        ),
        ({"workers": "100"}, r"workers = '100': workers=100 .* needs"),
        ({"instanceVcpus": "4"}, r"instanceType = .*override the table together; set both"),
        ({"databaseStorageGib": "25"}, r"databaseStorageGib = '25': RDS storage grows in steps of 10 GiB"),
        ({"databaseName": "postgres"}, r"databaseName = 'postgres': .*reserved"),
        ({"alarmSilenceMinutes": "10"}, r"alarmSilenceMinutes = '10': CloudMonitor accepts only"),
        ({"acmeEmail": ""}, r"acmeEmail = '': certificates is 'acme', which needs an account email"),
        ({"appEnv": '["no-equals"]'}, r"appEnv = .*is not NAME=value"),
        ({"appEnv": '["PATH=/bin"]'}, r"appEnv = .*set by the host itself"),
        ({"appName": "API"}, r"appName = 'API': .*lower case"),
        ({"devHttpPort": "8443"}, r"devHttpPort = '8443': it equals devHttpsPort"),
        ({"region": "Beijing"}, r"region = 'Beijing': not a Volcengine region id; use one such as"),
    ],
)
def test_bad_values_name_key_value_and_fix(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(StackConfigError, match=message):
        load(**overrides)


def test_secret_keys_are_masked_in_errors() -> None:
    with pytest.raises(StackConfigError, match=r"appName = \[secret\]"):
        load_stack_config({**BASE, "appName": "NOT-SHOWN"}, secret_keys={"appName"})


def test_database_url_quotes_the_password() -> None:
    assert database_url("app", "p@ss:/w", "db", 5432, "app") == "postgresql://app:p%40ss%3A%2Fw@db:5432/app"


# --- the ingress catalogue ----------------------------------------------------------------------------


def test_default_app_host_rules_are_80_and_443_from_anywhere_and_nothing_else() -> None:
    rules = app_host_ingress_rules()
    assert [(rule.protocol, rule.port_start, rule.source_cidr) for rule in rules] == [
        ("tcp", 80, "0.0.0.0/0"),
        ("tcp", 443, "0.0.0.0/0"),
    ]
    for port in PROTECTED_PORTS:
        assert rules_opening_to_world(rules, port) == []


def test_catalogue_names_say_service_port_protocol() -> None:
    assert {"http-80-tcp", "https-443-tcp", "ssh-22-tcp", "postgresql-5432-tcp", "app-8000-tcp"} <= set(
        CATALOGUE
    )
    assert rule_from_catalogue("ssh-22-tcp", "198.51.100.7/32").name == "ssh-22-tcp-198-51-100-7-32"
    with pytest.raises(ValueError, match="not in the ingress rule catalogue; known rules"):
        rule_from_catalogue("telnet-23-tcp", "10.0.0.0/8")


@pytest.mark.parametrize("template", ["ssh-22-tcp", "postgresql-5432-tcp", "app-8000-tcp", "all-all"])
def test_catalogue_protected_entries_cannot_face_the_world(template: str) -> None:
    with pytest.raises(ValueError, match="to the world"):
        rule_from_catalogue(template, "0.0.0.0/0")
    assert rule_from_catalogue(template, "10.20.0.0/16").source_cidr == "10.20.0.0/16"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("203.0.113.5/24", "host bits set; the network is '203.0.113.0/24'"),
        ("203.0.113.5", "no prefix length"),
        ("300.1.1.0/24", "not an IPv4 or IPv6 network"),
    ],
)
def test_cidrs_are_parsed_strictly(value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_cidr(value)


def test_admin_cidr_may_be_one_address_but_not_the_world() -> None:
    assert check_admin_cidr("198.51.100.7/32") == "198.51.100.7/32"
    assert check_admin_cidr("2001:db8::/48") == "2001:db8::/48"
    with pytest.raises(ValueError, match="would open SSH"):
        check_admin_cidr("0.0.0.0/0")


@pytest.mark.parametrize(
    ("protocol", "start", "end", "message"),
    [
        ("tcp", 0, 10, "not a range within 1-65535"),
        ("tcp", 90, 80, "not a range within 1-65535"),
        ("all", 1, 65535, "has no ports"),
        ("icmp", 8, 8, "has no ports"),
    ],
)
def test_rules_refuse_impossible_port_ranges(protocol: str, start: int, end: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        IngressRule(name="x", protocol=protocol, port_start=start, port_end=end, source_cidr="10.0.0.0/8")


# --- the instance table -----------------------------------------------------------------------------------


def test_instance_table_and_override() -> None:
    assert instance_size("ecs.g3il.large") == INSTANCE_TYPES["ecs.g3il.large"]
    assert (instance_size("ecs.c3il.xlarge").vcpus, instance_size("ecs.c3il.xlarge").memory_mib) == (4, 8192)
    assert instance_size("ecs.r3il.large").memory_mib == 16384
    assert instance_size("ecs.hfg7.large", vcpus=2, memory_mib=8192).vcpus == 2
    with pytest.raises(UnknownInstanceType, match="instanceVcpus and instanceMemoryMib"):
        instance_size("ecs.hfg7.large")


# --- error reporting (sentryDsn) ------------------------------------------------------------------

SAMPLE_ARCHIVE = ArtifactRef(name="app-src.tar.gz", sha256="ab" * 32)


def test_a_malformed_dsn_is_refused_without_showing_it() -> None:
    with pytest.raises(StackConfigError) as refused:
        # Even set without --secret, the value stays out of the message.
        load_stack_config({**BASE, "sentryDsn": "k3y-NOT-SHOWN@errors.notes-demo.cn"})
    message = str(refused.value)
    assert "sentryDsn = [secret]: not a DSN of the form" in message
    assert "NOT-SHOWN" not in message


def test_error_reporting_is_set_in_one_place() -> None:
    with pytest.raises(StackConfigError) as refused:
        load(sentryDsn="https://k3y@errors.notes-demo.cn/5", appSecretEnv="SENTRY_DSN=https://other@x.cn/6")
    assert "sentryDsn = [secret]: SENTRY_DSN also set in appEnv or appSecretEnv" in str(refused.value)
    assert "k3y" not in str(refused.value)


@pytest.mark.parametrize(
    ("overrides", "package", "release"),
    [
        # A pinned requirement names its release; a wheel's file name carries name and version;
        # a source archive has no version of its own, so its digest stands in.
        (
            {"appPackage": "", "appRequirement": "Notes_API==0.2.0", "appAsgiPath": "notes_api.main:app",
             "appReadinessPath": "/readyz", "appMigrationCommand": "none",
             "appPackageIndexUrl": "https://pypi.notes-demo.cn/simple/"},
            None,
            "notes-api@0.2.0",
        ),
        ({}, ArtifactRef(name="notes_api-0.3.1-py3-none-any.whl", sha256="cd" * 32), "notes-api@0.3.1"),
        ({}, SAMPLE_ARCHIVE, "app-src.tar.gz@abababababab"),
    ],
)
def test_the_release_names_the_app_version(overrides: dict[str, Any], package: ArtifactRef | None, release: str) -> None:
    config = load(sentryDsn="https://k3y@errors.notes-demo.cn/5", **overrides)
    app = config.app_spec(package, "staging")
    # The release's name travels with the release record (each slot's release.env), so a new
    # version leaves the user data alone.
    assert (app.release_label, app.env["SENTRY_ENVIRONMENT"]) == (release, "staging")
    assert "SENTRY_RELEASE" not in app.env
    assert app.secret_env["SENTRY_DSN"].get_secret_value() == "https://k3y@errors.notes-demo.cn/5"
    assert "SENTRY_DSN" not in app.env


def test_without_a_dsn_the_app_gets_no_reporting_variables() -> None:
    app = load().app_spec(SAMPLE_ARCHIVE, "prod")
    assert not {"SENTRY_DSN", "SENTRY_RELEASE", "SENTRY_ENVIRONMENT"} & {*app.env, *app.secret_env}


@pytest.mark.parametrize("schedule", ["daily", "weekly", "*-*-* 03:00:00", "*-*-* 23:59", "Mon..Fri *-*-* 03:00", "Sat,Sun *-*-* 04:30", "off"])
def test_dump_schedules_of_at_most_one_a_day_are_taken(schedule: str) -> None:
    assert load(backupSchedule=schedule).backup_schedule == schedule


# Typos systemd would refuse on the host, schedules of more than one dump a day (the tooling
# dumps at most once in 20 h), and 'off' spelled otherwise.
@pytest.mark.parametrize("schedule", ["dialy", "Off", "never", "hourly", "*-*-* *:00:00", "*-*-* 24:00", "", "daily; reboot"])
def test_other_dump_schedules_are_refused_with_the_forms_that_work(schedule: str) -> None:
    with pytest.raises(StackConfigError, match=r"backupSchedule = .*: not a schedule of at most one dump a day; use 'daily'.*'off'"):
        load(backupSchedule=schedule)
