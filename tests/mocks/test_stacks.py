"""The real programs: `__main__.py` run with the values of Pulumi.prod.yaml and
Pulumi.dev.yaml (secure values replaced by a dummy), and with bad values."""

from __future__ import annotations

import base64
from typing import Any

import pulumi
import pytest
from pydantic import SecretStr

from fastapi_deploy.cloud_init import USER_DATA_LIMIT_BYTES, render_user_data
from fastapi_deploy.stack_model.host_spec import ObjectStorageSpec
from fastapi_deploy.stack_model.stack_config import database_url
from tests.mocks.harness import DUMMY_SECRET, ProgramRun, load_stack_file_config, run_main

MOCK_PASSWORD = "Mock-Pw_0123456789abcdefghijklmn"

PROD_TYPES = {
    "pulumi:providers:volcengine": 1,
    "fastapi-deploy:network:Network": 1,
    "volcengine:vpc/vpc:Vpc": 1,
    "volcengine:vpc/subnet:Subnet": 2,
    "fastapi-deploy:network:SecurityGroup": 1,
    "volcengine:vpc/securityGroup:SecurityGroup": 1,
    "volcengine:vpc/securityGroupRule:SecurityGroupRule": 3,
    "fastapi-deploy:database:Postgres": 1,
    "random:index/randomPassword:RandomPassword": 1,
    "volcengine:rds_postgresql/allowlist:Allowlist": 1,
    "volcengine:rds_postgresql/instance:Instance": 1,
    "volcengine:rds_postgresql/allowlistAssociate:AllowlistAssociate": 1,
    "volcengine:rds_postgresql/account:Account": 1,
    "volcengine:rds_postgresql/database:Database": 1,
    "volcengine:rds_postgresql/backupPolicy:BackupPolicy": 1,
    "fastapi-deploy:storage:ObjectStorage": 1,
    "random:index/randomString:RandomString": 1,
    "volcengine:tos/bucket:Bucket": 1,
    "volcengine:tos/bucketEncryption:BucketEncryption": 1,
    "volcengine:tos/bucketLifecycle:BucketLifecycle": 1,
    "volcengine:iam/user:User": 1,
    "volcengine:iam/policy:Policy": 1,
    "volcengine:iam/userPolicyAttachment:UserPolicyAttachment": 1,
    "volcengine:iam/accessKey:AccessKey": 1,
    "fastapi-deploy:network:LoadBalancer": 1,
    "volcengine:clb/clb:Clb": 1,
    "volcengine:clb/serverGroup:ServerGroup": 2,
    "volcengine:clb/listener:Listener": 2,
    "fastapi-deploy:compute:AppFleet": 1,
    "volcengine:autoscaling/scalingGroup:ScalingGroup": 1,
    "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration": 1,
    "volcengine:autoscaling/scalingConfigurationAttachment:ScalingConfigurationAttachment": 1,
    "volcengine:autoscaling/scalingGroupEnabler:ScalingGroupEnabler": 1,
    "volcengine:autoscaling/scalingPolicy:ScalingPolicy": 2,
    "fastapi-deploy:monitoring:Monitoring": 1,
    "volcengine:cloud_monitor/contact:Contact": 1,
    "volcengine:cloud_monitor/contactGroup:ContactGroup": 1,
    "volcengine:cloud_monitor/rule:Rule": 4,
}


@pytest.fixture(scope="module")
def prod() -> ProgramRun:
    return run_main("prod")


def expected_prod_cloud_config(overrides: dict[str, Any] | None = None) -> str:
    """What the renderer makes of the prod config and the mocked database and bucket."""
    config = load_stack_file_config("prod", overrides)
    url = database_url("app", MOCK_PASSWORD, "app-db-instance.pg.ivolces.com", "5432", "app")
    storage = ObjectStorageSpec(
        endpoint_url="https://tos-s3-cn-beijing.ivolces.com",
        bucket="app-files-k3q9x2ab",
        region="cn-beijing",
        access_key_id=SecretStr("AKLTmockapp-files-app-key"),
        secret_access_key=SecretStr("mock-secret-of-app-files-app-key"),
    )
    return render_user_data(config.host_spec(url, storage)).cloud_config


def test_prod_stack_builds_exactly_the_fleet_topology(prod: ProgramRun) -> None:
    assert prod.type_counts() == PROD_TYPES


def test_prod_stack_is_made_of_components_only(prod: ProgramRun) -> None:
    """__main__ composes; only components (and the regional provider) sit at the top."""
    root = "urn:pulumi:prod::fastapi-deploy::pulumi:pulumi:Stack::fastapi-deploy-prod"
    top_level = {item.type for item in prod.registrations if item.parent == root}
    assert top_level == {t for t in PROD_TYPES if t.startswith("fastapi-deploy:")} | {
        "pulumi:providers:volcengine"
    }
    components = {item.urn for item in prod.registrations if not item.custom}
    for item in prod.registrations:
        if item.custom and item.type != "pulumi:providers:volcengine":
            assert item.parent in components, f"{item.name} is not inside a component"


def test_every_cloud_resource_and_lookup_uses_the_regional_provider(prod: ProgramRun) -> None:
    """Components pass the caller's provider to their children (and to the image lookup), so
    nothing falls back to the default provider and its region."""
    provider = prod.one("pulumi:providers:volcengine")
    reference = f"{provider.urn}::{provider.name}-id"
    for item in prod.registrations:
        if item.type.startswith("volcengine:"):
            assert item.provider == reference, item.name
    assert prod.call_providers and set(prod.call_providers) == {reference}


def test_prod_stack_exports_and_keeps_the_password_secret(prod: ProgramRun) -> None:
    assert prod.outputs == {
        "url": "https://api.example.com",
        "public_address": "203.0.113.10",
        "load_balancer_address": "203.0.113.10",
        "bucket_name": "app-files-k3q9x2ab",
        "database_endpoint": "app-db-instance.pg.ivolces.com:5432",
        "database_password": MOCK_PASSWORD,
    }
    assert prod.secret_outputs == {"database_password"}


def test_prod_fleet_user_data_is_the_rendered_cloud_config(prod: ProgramRun) -> None:
    configuration = prod.one("volcengine:autoscaling/scalingConfiguration:ScalingConfiguration")
    cloud_config = base64.b64decode(configuration.inputs["userData"]).decode()
    assert cloud_config == expected_prod_cloud_config()
    assert cloud_config.startswith("#cloud-config\n")
    assert len(cloud_config.encode()) <= USER_DATA_LIMIT_BYTES
    assert configuration.is_secret("userData")


def test_prod_security_inputs(prod: ProgramRun) -> None:
    rules = sorted(
        (item.inputs["portStart"], item.inputs["cidrIp"])
        for item in prod.of_type("volcengine:vpc/securityGroupRule:SecurityGroupRule")
    )
    assert rules == [(22, "203.0.113.0/24"), (80, "0.0.0.0/0"), (443, "0.0.0.0/0")]
    assert prod.one("volcengine:rds_postgresql/allowlist:Allowlist").inputs["allowLists"] == [
        "10.20.0.0/24",
        "10.20.1.0/24",
    ]
    assert prod.one("volcengine:rds_postgresql/instance:Instance").protect is True
    policy = prod.one("volcengine:rds_postgresql/backupPolicy:BackupPolicy").inputs
    assert policy["backupRetentionPeriod"] == 14
    assert not any("endpointPublicAddress" in item.type for item in prod.registrations)
    assert prod.one("volcengine:rds_postgresql/account:Account").is_secret("accountPassword")


def test_prod_fleet_sizes_thresholds_and_alarm_contact_come_from_the_stack_file(prod: ProgramRun) -> None:
    group = prod.one("volcengine:autoscaling/scalingGroup:ScalingGroup").inputs
    assert (group["minInstanceNumber"], group["desireInstanceNumber"], group["maxInstanceNumber"]) == (
        2,
        2,
        6,
    )
    thresholds = {
        item.name: item.inputs["alarmPolicyConditionThreshold"]
        for item in prod.of_type("volcengine:autoscaling/scalingPolicy:ScalingPolicy")
    }
    assert thresholds == {"app-fleet-scale-out": "70", "app-fleet-scale-in": "30"}
    assert prod.one("volcengine:autoscaling/scalingConfiguration:ScalingConfiguration").inputs[
        "instanceTypes"
    ] == ["ecs.g3il.large"]
    assert prod.one("volcengine:rds_postgresql/instance:Instance").inputs["nodeSpec"] == "rds.postgres.2c4g"
    assert prod.one("volcengine:cloud_monitor/contact:Contact").inputs["email"] == "ops@example.com"
    assert prod.one("pulumi:providers:volcengine").inputs["region"] == "cn-beijing"


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_stacks_preview_with_unknown_values(stack: str) -> None:
    """`pulumi preview` runs the program with unknown outputs; nothing may assume them known."""
    run = run_main(stack, preview=True)
    assert run.outputs["database_password"] is None  # generated on `up`, unknown in a preview
    assert len(run.registrations) == len(run_main(stack).registrations)


def test_prod_warns_that_fleet_tls_is_not_finished(prod: ProgramRun) -> None:
    assert any("not finished" in warning for warning in prod.warnings)


def test_single_host_mode_uses_an_app_host_and_no_load_balancer() -> None:
    run = run_main("prod", {"fleetEnabled": False})
    counts = run.type_counts()
    assert counts["fastapi-deploy:compute:AppHost"] == 1
    assert counts["volcengine:ecs/instance:Instance"] == 1
    assert counts["volcengine:eip/address:Address"] == 1
    assert not any(name.startswith(("volcengine:clb", "volcengine:autoscaling")) for name in counts)
    assert "load_balancer_address" not in run.outputs
    assert run.outputs["public_address"] == "203.0.113.20"
    instance = run.one("volcengine:ecs/instance:Instance")
    assert base64.b64decode(instance.inputs["userData"]).decode() == expected_prod_cloud_config(
        {"fleetEnabled": False}
    )
    rules = {item.name for item in run.of_type("volcengine:cloud_monitor/rule:Rule")}
    assert rules == {
        "app-alarms-host-cpu-high",
        "app-alarms-host-down",
        "app-alarms-database-cpu-high",
        "app-alarms-database-storage-high",
    }
    assert run.warnings == []


def test_healthz_gate_waits_for_the_fleet() -> None:
    run = run_main("prod", {"healthzGate": True, "healthzGateAttempts": 20})
    probe = run.one("command:local:Command")
    assert probe.inputs["environment"]["HEALTHZ_URL"] == "https://api.example.com/healthz"
    assert probe.inputs["environment"]["HEALTHZ_ATTEMPTS"] == "20"
    assert probe.inputs["environment"]["HEALTHZ_CURL_OPTIONS"] == "--resolve api.example.com:443:203.0.113.10"
    gate = run.one("fastapi-deploy:deploy:HealthzGate")
    # Depending on a component means depending on everything inside it.
    fleet = run.one("fastapi-deploy:compute:AppFleet")
    fleet_resources = {item.urn for item in run.descendants_of(fleet.urn)}
    assert fleet_resources and fleet_resources <= set(gate.dependencies)


def test_dev_stack_runs_the_same_user_data_in_docker() -> None:
    run = run_main("dev")
    assert run.type_counts() == {
        "fastapi-deploy:dev:DockerNetwork": 1,
        "docker:index/network:Network": 1,
        "fastapi-deploy:dev:DockerPostgres": 1,
        "random:index/randomPassword:RandomPassword": 1,
        "docker:index/remoteImage:RemoteImage": 1,
        "docker:index/volume:Volume": 1,
        "docker:index/container:Container": 2,
        "fastapi-deploy:dev:DockerAppHost": 1,
        "docker:index/image:Image": 1,
        "fastapi-deploy:deploy:HealthzGate": 1,
        "command:local:Command": 1,
    }
    containers = {item.name: item for item in run.of_type("docker:index/container:Container")}
    database, host = containers["dev-postgres-container"], containers["dev-app-host-container"]
    assert "ports" not in database.inputs
    assert sorted((port["ip"], port["external"], port["internal"]) for port in host.inputs["ports"]) == [
        ("127.0.0.1", 8080, 80),
        ("127.0.0.1", 8443, 443),
    ]
    assert {net["name"] for net in database.inputs["networksAdvanced"]} == {"dev"}
    assert {net["name"] for net in host.inputs["networksAdvanced"]} == {"dev"}
    config = load_stack_file_config("dev")
    expected = render_user_data(
        config.host_spec(database_url("app", MOCK_PASSWORD, "dev-postgres", 5432, "app"))
    ).cloud_config
    uploads = {upload["file"]: upload["content"] for upload in host.inputs["uploads"]}
    assert uploads["/var/lib/cloud/seed/nocloud/user-data"] == expected
    dev_spec = config.host_spec(database_url("app", MOCK_PASSWORD, "dev-postgres", 5432, "app"))
    assert (
        "CERTIFICATE_KIND=self-signed" in render_user_data(dev_spec).file("/etc/app-host/host.conf").content
    )
    assert host.is_secret("uploads") and database.is_secret("envs")
    assert run.secret_outputs == {"database_password"}
    assert run.outputs["url"] == "https://api.dev.test:8443"
    assert run.one("command:local:Command").inputs["environment"]["HEALTHZ_CURL_OPTIONS"] == (
        "--resolve api.dev.test:8443:127.0.0.1 --insecure"
    )


def test_secure_values_reach_the_program_as_secrets() -> None:
    run = run_main("prod", {"appSecretEnv": DUMMY_SECRET})
    configuration = run.one("volcengine:autoscaling/scalingConfiguration:ScalingConfiguration")
    assert configuration.is_secret("userData")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"adminCidrs": ["0.0.0.0/0"]},
            r"fastapi-deploy:adminCidrs = '\[\"0.0.0.0/0\"\]': admin CIDR '0.0.0.0/0' would open SSH",
        ),
        (
            {"adminCidrs": ["::/0"]},
            r"fastapi-deploy:adminCidrs = .*would open SSH \(22\) to the world; list the networks",
        ),
        (
            {"fleetMinSize": 5},
            r"fastapi-deploy:fleetDesiredSize = '2': fleetMinSize \(5\) <= fleetDesiredSize \(2\).*; choose sizes",
        ),
        (
            {"cpuScaleInPercent": 65},
            r"fastapi-deploy:cpuScaleInPercent = '65': .*flap.*; keep at least 20 points",
        ),
        (
            {"instanceType": "ecs.unknown.large"},
            r"fastapi-deploy:instanceType = 'ecs.unknown.large': .*not in the table.*; pick one",
        ),
        (
            {"databaseBackupRetentionDays": 3},
            r"fastapi-deploy:databaseBackupRetentionDays = '3': .*greater than or equal to 7; set",
        ),
        (
            {"domain": "localhost"},
            r"fastapi-deploy:domain = 'localhost': .*not a fully qualified domain name; use",
        ),
        (
            {"alarmContactEmail": ""},
            r"fastapi-deploy:alarmContactEmail = '': .*needs somewhere to send them; set",
        ),
        (
            {"fleetMaxSzie": 3},
            r"fastapi-deploy:fleetMaxSzie = '3': unknown key; did you mean 'fleetMaxSize'\?",
        ),
        ({"platform": "aws"}, r"fastapi-deploy:platform = 'aws': .*; use 'volcengine' or 'docker'"),
    ],
)
def test_bad_prod_values_stop_the_program_with_key_value_and_fix(
    overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(pulumi.RunError, match=message) as raised:
        run_main("prod", overrides)
    assert "Traceback" not in str(raised.value) and "pydantic" not in str(raised.value)


def test_docker_platform_refuses_acme() -> None:
    with pytest.raises(
        pulumi.RunError,
        match=r"fastapi-deploy:certificates = 'acme': .*no public DNS name.*; use 'self-signed'",
    ):
        run_main("dev", {"certificates": "acme", "acmeEmail": "ops@example.com"})


def test_secret_values_are_never_echoed_in_errors() -> None:
    with pytest.raises(
        pulumi.RunError, match=r"fastapi-deploy:appSecretEnv = \[secret\]: a line is not NAME=value"
    ) as raised:
        run_main("prod", {"appSecretEnv": "TOKEN hunter2"})
    assert "hunter2" not in str(raised.value)
