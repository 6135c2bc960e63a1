"""Each config key changes what it should.

For every key of Pulumi.yaml, one row: a value different from the stack's, where its effect
shows (a resource input, a file the host's user data writes, an export), and what must be
seen there. The row's observation must differ between the stack as it is and with the
value, so a key that stops reaching the resources or the host fails here. A key without a
row fails too.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pytest

from fastapi_deploy.stack_model.stack_config import project_config_declarations
from tests.host_specs import ADMIN_KEY
from tests.mocks.harness import REPO, ProgramRun, cloud_config_of, run_main, shell_settings, written_files

CONFIGURATION = "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"
INSTANCE = "volcengine:ecs/instance:Instance"
COLLECTOR = "fastapi-deploy:logs:LogCollector"
OWN_APP = {"appAsgiPath": "notes_api.main:app", "appMigrationCommand": "notes-api-migrate", "appReadinessPath": "/readyz"}


def host(run: ProgramRun) -> Any:
    for typ in (CONFIGURATION, INSTANCE):
        if run.of_type(typ):
            return run.one(typ)
    return run.named("dev-app-host-container")


def file(path: str) -> Callable[[ProgramRun], str]:
    return lambda run: written_files(host(run))[path]


def conf(name: str) -> Callable[[ProgramRun], str]:
    return lambda run: shell_settings(written_files(host(run))["/etc/app-host/host.conf"])[name]


def env(name: str) -> Callable[[ProgramRun], str]:
    return lambda run: shell_settings(written_files(host(run))["/etc/api/env"]).get(name, "")


def release(field: str) -> Callable[[ProgramRun], Any]:
    """A field of the release record the stack writes into the bucket (app_host.release)."""
    return lambda run: json.loads(run.named("app-artifacts-release").inputs["content"])[field]


def inputs(typ: str, *path: str, name: str | None = None) -> Callable[[ProgramRun], Any]:
    def observe(run: ProgramRun) -> Any:
        registration = run.named(name) if name else run.one(typ)
        value: Any = registration.inputs
        for part in path:
            value = value[int(part)] if isinstance(value, list) else value.get(part)
        return value

    return observe


def rule_threshold(label: str) -> Callable[[ProgramRun], str]:
    return lambda run: run.named(f"app-alarms-{label}").inputs["conditions"][0]["threshold"]


def vmp_threshold(rule: str) -> Callable[[ProgramRun], Any]:
    return lambda run: run.named(f"app-metrics-{rule}").inputs["levels"][0]["threshold"]


def gate_env(name: str) -> Callable[[ProgramRun], str]:
    return lambda run: run.named("app-healthz-probe").inputs["environment"][name]


def workers(run: ProgramRun) -> str:
    text = file("/etc/api/gunicorn.conf.py")(run)
    return next(line for line in text.splitlines() if line.startswith("workers = "))


@dataclass(frozen=True)
class Row:
    key: str
    overrides: dict[str, Any]
    observe: Callable[[ProgramRun], Any]
    expected: Any
    stack: str = "prod"
    # Keys some rows need set alongside (the same in the baseline run).
    context: tuple[tuple[str, Any], ...] = ()


ROWS = [
    Row("platform", {"platform": "docker", "certificates": "self-signed"}, lambda run: bool(run.of_type("docker:index/container:Container")), True),
    Row("region", {"region": "cn-shanghai", "zones": ["cn-shanghai-a", "cn-shanghai-b"]}, inputs("pulumi:providers:volcengine", "region"), "cn-shanghai"),
    Row("zones", {"zones": ["cn-beijing-c", "cn-beijing-d"]}, lambda run: sorted(item.inputs["zoneId"] for item in run.of_type("volcengine:vpc/subnet:Subnet")), ["cn-beijing-c", "cn-beijing-d"]),
    Row("vpcCidr", {"vpcCidr": "10.40.0.0/16"}, inputs("volcengine:vpc/vpc:Vpc", "cidrBlock"), "10.40.0.0/16"),
    Row("domain", {"domain": "shop.notes-demo.cn"}, conf("DOMAINS"), "shop.notes-demo.cn"),
    Row("certificates", {"certificates": "self-signed"}, conf("CERTIFICATE_KIND"), "self-signed"),
    Row("acmeEmail", {"acmeEmail": "tls@notes-demo.cn"}, conf("ACME_EMAIL"), "tls@notes-demo.cn"),
    Row("acmeDirectoryUrl", {"acmeDirectoryUrl": "https://acme-staging-v02.api.letsencrypt.org/directory"}, conf("ACME_DIRECTORY"), "https://acme-staging-v02.api.letsencrypt.org/directory"),
    Row("adminCidrs", {"adminCidrs": ["100.64.99.0/24"]}, lambda run: sorted((item.inputs["securityGroupId"], item.inputs["cidrIp"]) for item in run.of_type("volcengine:vpc/securityGroupRule:SecurityGroupRule") if item.inputs["portStart"] == 22), [("app-hosts-sg-id", "100.64.99.0/24"), ("app-logs-sg-id", "100.64.99.0/24")]),
    Row("adminSshKeys", {"adminSshKeys": [ADMIN_KEY]}, lambda run: [user.get("ssh_authorized_keys") for user in cloud_config_of(host(run))["users"] if user["name"] == "ops"], [[ADMIN_KEY]]),
    Row("instanceType", {"instanceType": "ecs.c3il.xlarge"}, inputs(CONFIGURATION, "instanceTypes"), ["ecs.c3il.xlarge"]),
    Row("instanceVcpus", {"instanceType": "ecs.hfg7.large", "instanceVcpus": 4, "instanceMemoryMib": 16384}, workers, "workers = 9"),
    Row("instanceMemoryMib", {"instanceType": "ecs.hfg7.large", "instanceVcpus": 8, "instanceMemoryMib": 2048}, workers, "workers = 6"),
    Row("workerMemoryMib", {"workerMemoryMib": 2048}, workers, "workers = 3"),
    Row("workers", {"workers": 2}, workers, "workers = 2"),
    Row("imageOsName", {"imageOsName": "Ubuntu", "imageOsVersion": "22.04"}, inputs(CONFIGURATION, "imageId"), "image-ubuntu-22-04"),
    Row("imageOsVersion", {"imageOsVersion": "11"}, inputs(CONFIGURATION, "imageId"), "image-debian-11"),
    Row("imageId", {"imageId": "image-ybqi99s7yq8rx7mnk44b"}, inputs(CONFIGURATION, "imageId"), "image-ybqi99s7yq8rx7mnk44b"),
    Row("systemDiskGib", {"systemDiskGib": 80}, inputs(CONFIGURATION, "volumes", "0", "size"), 80),
    Row("systemDiskType", {"systemDiskType": "ESSD_FlexPL"}, inputs(CONFIGURATION, "volumes", "0", "volumeType"), "ESSD_FlexPL"),
    Row("publicBandwidthMbps", {"publicBandwidthMbps": 50}, inputs("volcengine:clb/clb:Clb", "eipBillingConfig", "bandwidth"), 50),
    Row("egressBandwidthMbps", {"egressBandwidthMbps": 30}, inputs("volcengine:eip/address:Address", "bandwidth", name="app-egress-eip"), 30),
    Row("fleetEnabled", {"fleetEnabled": False}, lambda run: bool(run.of_type("fastapi-deploy:compute:AppHost")), True),
    Row("fleetMinSize", {"fleetMinSize": 1}, inputs("volcengine:autoscaling/scalingGroup:ScalingGroup", "minInstanceNumber"), 1),
    Row("fleetDesiredSize", {"fleetDesiredSize": 3}, inputs("volcengine:autoscaling/scalingGroup:ScalingGroup", "desireInstanceNumber"), 3),
    Row("fleetMaxSize", {"fleetMaxSize": 9}, inputs("volcengine:autoscaling/scalingGroup:ScalingGroup", "maxInstanceNumber"), 9),
    Row("cpuScaleOutPercent", {"cpuScaleOutPercent": 80}, inputs("", "alarmPolicyConditionThreshold", name="app-fleet-scale-out"), "80"),
    Row("cpuScaleInPercent", {"cpuScaleInPercent": 20}, inputs("", "alarmPolicyConditionThreshold", name="app-fleet-scale-in"), "20"),
    Row("cpuEvaluationPeriods", {"cpuEvaluationPeriods": 5}, inputs("", "alarmPolicyEvaluationCount", name="app-fleet-scale-out"), 5),
    Row("scaleOutCooldownSeconds", {"scaleOutCooldownSeconds": 120}, inputs("", "cooldown", name="app-fleet-scale-out"), 120),
    Row("scaleInCooldownSeconds", {"scaleInCooldownSeconds": 900}, inputs("", "cooldown", name="app-fleet-scale-in"), 900),
    Row("loadBalancerSpec", {"loadBalancerSpec": "medium_1"}, inputs("volcengine:clb/clb:Clb", "loadBalancerSpec"), "medium_1"),
    Row("databaseClass", {"databaseClass": "rds.postgres.4c8g"}, inputs("volcengine:rds_postgresql/instance:Instance", "nodeSpec"), "rds.postgres.4c8g"),
    Row("databaseStorageGib", {"databaseStorageGib": 200}, inputs("volcengine:rds_postgresql/instance:Instance", "storageSpace"), 200),
    # Only RDS's default can be applied (the provider cannot create a backup policy): any
    # other value is refused, naming why.
    Row("databaseBackupRetentionDays", {"databaseBackupRetentionDays": 30}, lambda run: run, "refused: 30 days cannot be applied:"),
    # Older than the hosts' pg_dump (15): a newer server needs backupSchedule off (its own test).
    Row("databaseEngineVersion", {"databaseEngineVersion": "PostgreSQL_14"}, inputs("volcengine:rds_postgresql/instance:Instance", "dbEngineVersion"), "PostgreSQL_14"),
    Row("databaseName", {"databaseName": "notes"}, lambda run: (run.one("volcengine:rds_postgresql/database:Database").inputs["dbName"], env("DATABASE_URL")(run).rsplit("/", 1)[-1]), ("notes", "notes")),
    Row("databaseUser", {"databaseUser": "notes_rw"}, lambda run: (run.one("volcengine:rds_postgresql/account:Account").inputs["accountName"], env("DATABASE_URL")(run).split("//")[1].split(":")[0]), ("notes_rw", "notes_rw")),
    Row("databaseDeletionProtection", {"databaseDeletionProtection": False}, lambda run: run.one("volcengine:rds_postgresql/instance:Instance").protect, False),
    Row("alarmContactName", {"alarmContactName": "oncall"}, inputs("volcengine:cloud_monitor/contact:Contact", "name"), "oncall"),
    Row("alarmContactEmail", {"alarmContactEmail": "oncall@notes-demo.cn"}, inputs("volcengine:cloud_monitor/contact:Contact", "email"), "oncall@notes-demo.cn"),
    Row("alarmContactPhone", {"alarmContactPhone": "+8613800000000"}, lambda run: (run.one("volcengine:cloud_monitor/contact:Contact").inputs.get("phone"), run.named("app-alarms-host-cpu-high").inputs["alertMethods"]), ("+8613800000000", ["Email", "SMS"])),
    Row("cpuAlarmPercent", {"cpuAlarmPercent": 90}, rule_threshold("host-cpu-high"), "90"),
    Row("databaseCpuAlarmPercent", {"databaseCpuAlarmPercent": 70}, rule_threshold("database-cpu-high"), "70"),
    Row("databaseStorageAlarmPercent", {"databaseStorageAlarmPercent": 90}, rule_threshold("database-storage-high"), "90"),
    Row("alarmSilenceMinutes", {"alarmSilenceMinutes": 60}, inputs("", "silenceTime", name="app-alarms-host-cpu-high"), 60),
    Row("hostMetrics", {"hostMetrics": False}, lambda run: (len(run.of_type("volcengine:vmp/workspace:Workspace")), "/etc/app-host/metrics.conf" in written_files(host(run)), "prometheus" in cloud_config_of(host(run))["packages"]), (0, False, False)),
    Row("metricsRetention", {"metricsRetention": "90d"}, inputs("volcengine:vmp/workspace:Workspace", "instanceTypeId"), "vmp.standard.90d"),
    Row("errorAlarmPercent", {"errorAlarmPercent": 2.5}, vmp_threshold("http-5xx-ratio"), 0.025),
    Row("latencyAlarmP99Seconds", {"latencyAlarmP99Seconds": 0.3}, vmp_threshold("http-latency-p99"), 0.3),
    Row("diskFreeAlarmPercent", {"diskFreeAlarmPercent": 20}, vmp_threshold("host-disk-low"), 0.2),
    Row("backupMaxAgeHours", {"backupMaxAgeHours": 50}, vmp_threshold("backup-missing"), 50 * 3600),
    Row("logCollector", {"logCollector": False}, lambda run: (len(run.of_type(COLLECTOR)), "/etc/app-host/journal/client.key" in written_files(host(run))), (0, False)),
    Row("logCollectorInstanceType", {"logCollectorInstanceType": "ecs.c3il.xlarge"}, inputs(INSTANCE, "instanceType", name="app-logs-vm-instance"), "ecs.c3il.xlarge"),
    Row("logCollectorDiskGib", {"logCollectorDiskGib": 200}, lambda run: (run.named("app-logs-vm-instance").inputs["systemVolumeSize"], "--vacuum-size=140G" in written_files(run.named("app-logs-vm-instance"))["/etc/systemd/system/journal-remote-vacuum.service"]), (200, True)),
    Row("logKeepDays", {"logKeepDays": 7}, lambda run: "--vacuum-time=7d" in written_files(run.named("app-logs-vm-instance"))["/etc/systemd/system/journal-remote-vacuum.service"], True),
    Row("backupsPrefix", {"backupsPrefix": "dumps/"}, lambda run: (run.one("volcengine:tos/bucketLifecycle:BucketLifecycle").inputs["rules"][0]["prefix"], conf("BACKUP_PREFIX")(run)), ("dumps/", "dumps/api/")),
    Row("backupSchedule", {"backupSchedule": "*-*-* 03:00:00"}, lambda run: (conf("BACKUP_SCHEDULE")(run), "postgresql-client" in cloud_config_of(host(run))["packages"]), ("*-*-* 03:00:00", True)),
    Row("backupsExpireDays", {"backupsExpireDays": 60}, lambda run: run.one("volcengine:tos/bucketLifecycle:BucketLifecycle").inputs["rules"][0]["expiration"]["days"], 60),
    Row("healthzGate", {"healthzGate": True}, lambda run: len(run.of_type("command:local:Command")), 3),
    Row("releaseWatchMinutes", {"releaseWatchMinutes": 0}, lambda run: [item.name for item in run.of_type("command:local:Command")], ["app-fleet-roll-roll"]),
    Row("fleetRollBatchSize", {"fleetRollBatchSize": 3}, lambda run: run.named("app-fleet-roll-roll").inputs["environment"]["ROLL_BATCH_SIZE"], "3"),
    Row("fleetRollHealthMinutes", {"fleetRollHealthMinutes": 5}, lambda run: run.named("app-fleet-roll-roll").inputs["environment"]["ROLL_HEALTH_TIMEOUT_SECONDS"], "300"),
    Row("healthzGateAttempts", {"healthzGateAttempts": 7}, gate_env("HEALTHZ_ATTEMPTS"), "7", context=(("healthzGate", True),)),
    Row("healthzGateIntervalSeconds", {"healthzGateIntervalSeconds": 3}, gate_env("HEALTHZ_INTERVAL"), "3", context=(("healthzGate", True),)),
    Row("appName", {"appName": "notes"}, conf("APP_NAME"), "notes"),
    Row("appPackage", {"appPackage": "tests/fixtures/hello-app", "appAsgiPath": "hello_app:app", "appMigrationCommand": "none", "appReadinessPath": "/"}, lambda run: release("artifact_key")(run).rsplit("/", 1)[-1], "hello-app-src.tar.gz"),
    Row("appRequirement", {"appPackage": "", "appRequirement": "notes-api==0.2.0", "appPackageIndexUrl": "https://pypi.notes-demo.cn/simple/", **OWN_APP}, lambda run: release("requirements")(run).splitlines()[-1], "notes-api==0.2.0"),
    Row("appPackageIndexUrl", {"appPackageIndexUrl": "https://pypi.notes-demo.cn/simple/"}, lambda run: release("requirements")(run).splitlines()[0], "--index-url https://pypi.notes-demo.cn/simple/"),
    Row("appAsgiPath", {"appAsgiPath": "notes_api.main:create_app"}, lambda run: file("/etc/systemd/system/api@.service")(run).split("ExecStart=")[1].splitlines()[0].split()[-1], "notes_api.main:create_app"),
    Row("appMigrationCommand", {"appMigrationCommand": "none"}, lambda run: "/etc/systemd/system/api-migrate@.service" in written_files(host(run)), False),
    Row("appReadinessPath", {"appReadinessPath": "/ready"}, gate_env("HEALTHZ_URL"), "https://api.notes-demo.cn/ready", context=(("healthzGate", True),)),
    Row("appTimeoutSeconds", {"appTimeoutSeconds": 120}, lambda run: ("timeout = 120" in file("/etc/api/gunicorn.conf.py")(run), "proxy_read_timeout 120s;" in file("/etc/nginx/sites-available/api.conf")(run)), (True, True)),
    Row("loadBalancerHealthCheck", {"loadBalancerHealthCheck": "tcp-443"}, lambda run: sorted(item.inputs["healthCheck"]["port"] for item in run.of_type("volcengine:clb/listener:Listener")), [443, 443]),
    Row("appLivenessPath", {"appLivenessPath": "/livez"}, conf("HEALTH_PROBE_PATH"), "/livez"),
    Row("appEnv", {"appEnv": ["LOG_LEVEL=debug"]}, env("LOG_LEVEL"), "debug"),
    Row("appSecretEnv", {"appSecretEnv": "API_TOKEN=t0k3n"}, env("API_TOKEN"), "t0k3n"),
    # SENTRY_RELEASE comes with each release (the record's label), not the user data.
    Row("sentryDsn", {"sentryDsn": "https://k3y@o1.ingest.errors.notes-demo.cn/77"}, lambda run: (env("SENTRY_DSN")(run), env("SENTRY_RELEASE")(run), env("SENTRY_ENVIRONMENT")(run)), ("https://k3y@o1.ingest.errors.notes-demo.cn/77", "", "prod")),
    Row("releaseBatchSize", {"releaseBatchSize": 3}, release("batch_size"), 3),
    Row("releaseReadyTimeoutSeconds", {"releaseReadyTimeoutSeconds": 600}, release("ready_timeout_seconds"), 600),
    Row("releaseAttempt", {"releaseAttempt": 2}, release("attempt"), 2),
    # Published, and named by the HTTP redirect (which would otherwise send browsers to :443).
    Row("devHttpsPort", {"devHttpsPort": 9443}, lambda run: (sorted(port["external"] for port in run.named("dev-app-host-container").inputs["ports"]), "https://$host:9443$request_uri" in file("/etc/nginx/sites-available/api.conf")(run)), ([8080, 9443], True), stack="dev"),
    Row("devHttpPort", {"devHttpPort": 9080}, lambda run: sorted(port["external"] for port in run.named("dev-app-host-container").inputs["ports"]), [8443, 9080], stack="dev"),
]


def test_every_key_has_a_row() -> None:
    assert sorted(row.key for row in ROWS) == sorted(project_config_declarations())


_BASELINES: dict[tuple[str, tuple[tuple[str, Any], ...]], ProgramRun] = {}


def _baseline(stack: str, context: tuple[tuple[str, Any], ...]) -> ProgramRun:
    if (stack, context) not in _BASELINES:
        _BASELINES[stack, context] = run_main(stack, dict(context))
    return _BASELINES[stack, context]


def _run(stack: str, overrides: dict[str, Any]) -> ProgramRun | str:
    try:
        return run_main(stack, overrides)
    except pulumi.RunError as error:
        return f"refused: {str(error).splitlines()[1].split(': ', 1)[1][:26]}"


def _observed(observe: Callable[[ProgramRun], Any], run: ProgramRun | str) -> Any:
    if isinstance(run, str):
        return run
    try:
        return observe(run)
    except (KeyError, AssertionError, StopIteration, IndexError) as error:
        return f"<absent: {error!r}>"


@pytest.mark.parametrize("row", ROWS, ids=lambda row: row.key)
def test_each_key_changes_what_it_should(row: Row) -> None:
    changed = _run(row.stack, {**dict(row.context), **row.overrides})
    assert _observed(row.observe, changed) == row.expected
    assert _observed(row.observe, _baseline(row.stack, row.context)) != row.expected, "the row proves nothing"


def test_the_app_digest_follows_the_app_source(tmp_path: Path) -> None:
    """An unchanged app gives the same archive and key; one changed byte gives another."""
    app = tmp_path / "hello-app"
    shutil.copytree(REPO / "tests" / "fixtures" / "hello-app", app)
    own = {"appPackage": str(app), "appAsgiPath": "hello_app:app", "appMigrationCommand": "none", "appReadinessPath": "/"}
    first = release("artifact_sha256")(run_main("prod", own))
    assert release("artifact_sha256")(run_main("prod", own)) == first
    module = app / "hello_app" / "__init__.py"
    module.write_text(module.read_text() + "\n# changed\n")
    assert release("artifact_sha256")(run_main("prod", own)) != first


def test_backups_off_leave_no_dump_settings_or_client_on_the_hosts() -> None:
    run = run_main("prod", {"backupSchedule": "off"})
    assert (conf("BACKUP_PREFIX")(run), conf("BACKUP_SCHEDULE")(run)) == ("", "")
    assert "postgresql-client" not in cloud_config_of(host(run))["packages"]


def test_a_server_newer_than_the_hosts_pg_dump_needs_backups_off() -> None:
    with pytest.raises(pulumi.RunError, match=r"backupSchedule = \(unset\): the hosts' pg_dump \(15\) cannot dump a PostgreSQL_16"):
        run_main("prod", {"databaseEngineVersion": "PostgreSQL_16"})
    run = run_main("prod", {"databaseEngineVersion": "PostgreSQL_16", "backupSchedule": "off"})
    assert run.one("volcengine:rds_postgresql/instance:Instance").inputs["dbEngineVersion"] == "PostgreSQL_16"
