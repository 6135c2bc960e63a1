"""The real programs: `__main__.py` run with the values of Pulumi.prod.yaml (its placeholders
filled in as a user must) and Pulumi.dev.yaml, secure values replaced by a dummy.

Expected values come from the stack files, from the mocks' fixed outputs and from the
formats the cloud and cloud-init define: never from running StackConfig or the renderer a
second time. The user data is decoded as cloud-init would, and each file checked for what
the stack file asked.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pulumi
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fastapi_deploy.app_host.release import ReleaseRecord, record_key
from tests.mocks.harness import (
    FILLED_IN,
    ProgramRun,
    Registration,
    cloud_config_of,
    load_stack_file,
    run_main,
    shell_settings,
    unwrap,
    written_files,
)

# The mocks' fixed outputs (fastapi_deploy.testing): independent of the program.
MOCK_PASSWORD_32 = "Mock-Pw_0123456789abcdefghijklmn"
MOCK_BUCKET = "app-files-k3q9x2ab"
MOCK_RDS_HOST = "app-db-instance.pg.ivolces.com"
LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"
CONFIGURATION = "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"
INSTANCE = "volcengine:ecs/instance:Instance"

PROD_TYPES = {
    "pulumi:providers:volcengine": 1,
    "fastapi-deploy:network:Network": 1,
    "volcengine:vpc/vpc:Vpc": 1,
    "volcengine:vpc/subnet:Subnet": 2,
    "fastapi-deploy:network:SecurityGroup": 1,
    # The hosts' group and the log collector's.
    "volcengine:vpc/securityGroup:SecurityGroup": 2,
    # Hosts: 80, 443, the health gate, SSH from the one admin network. Collector: 19532 from
    # each of the two app subnets, SSH from the admin network.
    "volcengine:vpc/securityGroupRule:SecurityGroupRule": 7,
    "fastapi-deploy:database:Postgres": 1,
    # The database's, the hosts' and the log collector's console, and the metrics workspace's
    # write login.
    "random:index/randomPassword:RandomPassword": 4,
    "volcengine:rds_postgresql/allowlist:Allowlist": 1,
    "volcengine:rds_postgresql/instance:Instance": 1,
    "volcengine:rds_postgresql/allowlistAssociate:AllowlistAssociate": 1,
    "volcengine:rds_postgresql/account:Account": 1,
    "volcengine:rds_postgresql/database:Database": 1,
    "fastapi-deploy:storage:ObjectStorage": 1,
    "random:index/randomString:RandomString": 1,
    "volcengine:tos/bucket:Bucket": 1,
    "volcengine:tos/bucketEncryption:BucketEncryption": 1,
    "volcengine:tos/bucketLifecycle:BucketLifecycle": 1,
    "volcengine:iam/user:User": 3,
    "volcengine:iam/policy:Policy": 3,
    "volcengine:iam/userPolicyAttachment:UserPolicyAttachment": 3,
    "volcengine:iam/accessKey:AccessKey": 3,
    "fastapi-deploy:storage:HostArtifacts": 1,
    "volcengine:tos/bucketObject:BucketObject": 3,
    "fastapi-deploy:network:NatGateway": 1,
    "volcengine:nat/gateway:Gateway": 1,
    "volcengine:eip/address:Address": 1,
    "volcengine:eip/associate:Associate": 1,
    "volcengine:nat/snatEntry:SnatEntry": 2,
    "fastapi-deploy:network:LoadBalancer": 1,
    "volcengine:clb/clb:Clb": 1,
    "volcengine:clb/serverGroup:ServerGroup": 2,
    "volcengine:clb/listener:Listener": 2,
    "fastapi-deploy:compute:AppFleet": 1,
    "volcengine:autoscaling/scalingGroup:ScalingGroup": 1,
    CONFIGURATION: 1,
    "volcengine:autoscaling/scalingConfigurationAttachment:ScalingConfigurationAttachment": 1,
    "volcengine:autoscaling/scalingGroupEnabler:ScalingGroupEnabler": 1,
    "volcengine:autoscaling/scalingPolicy:ScalingPolicy": 2,
    "fastapi-deploy:monitoring:Monitoring": 1,
    "fastapi-deploy:monitoring:HostMetrics": 1,
    "fastapi-deploy:logs:JournalCertificates": 1,
    "tls:index/privateKey:PrivateKey": 3,
    "tls:index/selfSignedCert:SelfSignedCert": 1,
    "tls:index/certRequest:CertRequest": 2,
    "tls:index/locallySignedCert:LocallySignedCert": 2,
    "fastapi-deploy:logs:LogCollector": 1,
    "fastapi-deploy:compute:Vm": 1,
    # The log collector: the fleet's hosts are the scaling group's, not instances.
    "volcengine:ecs/instance:Instance": 1,
    "volcengine:vmp/workspace:Workspace": 1,
    "volcengine:vmp/contact:Contact": 1,
    "volcengine:vmp/contactGroup:ContactGroup": 1,
    "volcengine:vmp/notifyPolicy:NotifyPolicy": 1,
    "volcengine:vmp/notifyGroupPolicy:NotifyGroupPolicy": 1,
    # 5xx ratio, p99, disk, no reports, failing scrape; backup failed, backup missing.
    "volcengine:vmp/alertingRule:AlertingRule": 7,
    "volcengine:cloud_monitor/contact:Contact": 1,
    "volcengine:cloud_monitor/contactGroup:ContactGroup": 1,
    "volcengine:cloud_monitor/rule:Rule": 4,
    "fastapi-deploy:deploy:ReleaseWatch": 1,
    "fastapi-deploy:deploy:FleetRoll": 1,
    "command:local:Command": 2,
}


@pytest.fixture(scope="module")
def prod() -> ProgramRun:
    return run_main("prod")


def host_registration(run: ProgramRun) -> Registration:
    """The one resource whose user data every host boots."""
    hosts = run.of_type(CONFIGURATION) or run.of_type(INSTANCE) or run.of_type("docker:index/container:Container")
    host = [item for item in hosts if item.type != "docker:index/container:Container" or item.name.endswith("app-host-container")]
    assert len(host) == 1
    return host[0]


def host_files(run: ProgramRun) -> dict[str, str]:
    return written_files(host_registration(run))


def host_conf(run: ProgramRun) -> dict[str, str]:
    return shell_settings(host_files(run)["/etc/app-host/host.conf"])


def env_file(run: ProgramRun) -> dict[str, str]:
    return shell_settings(host_files(run)["/etc/api/env"])


# --- the prod stack as shipped and filled in ------------------------------------------------------


def test_the_prod_file_as_shipped_is_refused_until_its_placeholders_are_replaced() -> None:
    with pytest.raises(pulumi.RunError) as raised:
        run_main("prod", as_shipped=True)
    message = str(raised.value)
    assert "fastapi-deploy:domain = 'api.example.com': a documentation placeholder" in message
    assert "set the DNS name your app is served on" in message


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("acmeEmail", "ops@example.org"),
        ("alarmContactEmail", "alarms@mail.example.com"),
        ("adminCidrs", ["198.51.100.0/24"]),
        ("adminCidrs", ["2001:db8:1::/48"]),
        ("domain", "api.staging.test"),
    ],
)
def test_each_placeholder_is_refused_by_its_key(key: str, value: Any) -> None:
    with pytest.raises(pulumi.RunError, match=rf"fastapi-deploy:{key} = .*documentation placeholder"):
        run_main("prod", {key: value})


def test_prod_stack_builds_exactly_the_fleet_topology(prod: ProgramRun) -> None:
    assert prod.type_counts() == PROD_TYPES


def test_prod_stack_is_made_of_components_only(prod: ProgramRun) -> None:
    """__main__ composes; only components (and the regional provider) sit at the top."""
    root = "urn:pulumi:prod::fastapi-deploy::pulumi:pulumi:Stack::fastapi-deploy-prod"
    top_level = {item.type for item in prod.registrations if item.parent == root}
    # Vm is the log collector's child, not the stack's.
    assert top_level == {t for t in PROD_TYPES if t.startswith("fastapi-deploy:") and t != "fastapi-deploy:compute:Vm"} | {
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


def test_prod_stack_exports_and_keeps_passwords_secret(prod: ProgramRun) -> None:
    assert prod.outputs == {
        "url": f"https://{FILLED_IN['domain']}",
        "public_address": "203.0.113.10",
        "load_balancer_address": "203.0.113.10",
        "egress_address": "203.0.113.20",
        "log_collector_address": "10.20.0.250",
        "bucket_name": MOCK_BUCKET,
        "database_endpoint": f"{MOCK_RDS_HOST}:5432",
        "database_password": MOCK_PASSWORD_32,
        "host_console_password": MOCK_PASSWORD_32[:24],
    }
    assert prod.secret_outputs == {"database_password", "host_console_password"}


def test_the_fleet_goes_out_through_a_nat_gateway_that_exists_before_the_hosts(prod: ProgramRun) -> None:
    """Fleet hosts have no public address; on Volcengine such an instance reaches the
    internet only through a public NAT gateway's SNAT rule (docs 6404/112021), and first boot
    needs the package index and the ACME CA. One rule per zone subnet, with the gateway's
    own address, and the fleet depends on all of it."""
    gateway = prod.one("volcengine:nat/gateway:Gateway")
    assert gateway.inputs["networkType"] == "internet"
    address = prod.named("app-egress-eip")
    association = prod.one("volcengine:eip/associate:Associate")
    assert association.inputs == {"allocationId": "app-egress-eip-id", "instanceId": "app-egress-ngw-id", "instanceType": "Nat"}
    subnets = {item.name: f"{item.name}-id" for item in prod.of_type("volcengine:vpc/subnet:Subnet")}
    rules = prod.of_type("volcengine:nat/snatEntry:SnatEntry")
    assert sorted(rule.inputs["subnetId"] for rule in rules) == sorted(subnets.values())
    assert {rule.inputs["eipId"] for rule in rules} == {f"{address.name}-id"}
    assert all(association.urn in rule.dependencies for rule in rules)
    # The fleet waits for the rules: depending on the component means on its children, and
    # the fleet's own children register only once the fleet is registered after them.
    fleet = prod.one("fastapi-deploy:compute:AppFleet")
    assert {rule.urn for rule in rules} <= set(fleet.dependencies)
    # Nothing comes in through it.
    assert not prod.of_type("volcengine:nat/dnatEntry:DnatEntry")


def test_a_single_host_needs_no_nat_gateway() -> None:
    run = run_main("prod", {"fleetEnabled": False})
    assert not run.of_type("volcengine:nat/gateway:Gateway")  # its own public address goes out
    assert "egress_address" not in run.outputs


def test_prod_fleet_user_data_carries_what_the_stack_file_asks(prod: ProgramRun) -> None:
    values, _ = load_stack_file("prod")
    configuration = prod.one(CONFIGURATION)
    assert configuration.is_secret("userData")
    document = cloud_config_of(configuration)
    assert document["_bytes"] <= 16 * 1024
    files = written_files(configuration)
    conf = shell_settings(files["/etc/app-host/host.conf"])
    assert conf["DOMAINS"] == values["domain"]
    assert conf["CERTIFICATE_KIND"] == values["certificates"] == "acme"
    assert conf["ACME_EMAIL"] == values["acmeEmail"]
    assert conf["ACME_DIRECTORY"] == LETS_ENCRYPT
    env = shell_settings(files["/etc/api/env"])
    assert env["DATABASE_URL"] == f"postgresql://app:{MOCK_PASSWORD_32}@{MOCK_RDS_HOST}:5432/app"
    assert env["S3_BUCKET"] == MOCK_BUCKET and env["S3_ADDRESSING_STYLE"] == "virtual"
    assert env["S3_ENDPOINT_URL"] == f"https://tos-s3-{values['region']}.ivolces.com"
    assert env["S3_ACCESS_KEY_ID"] == "AKLTmockapp-files-app-key"
    store = shell_settings(files["/etc/app-host/store.conf"])
    assert (store["STORE_KIND"], store["STORE_BUCKET"], store["STORE_ACCESS_KEY_ID"]) == (
        "s3",
        MOCK_BUCKET,
        "AKLTmockapp-files-hosts-key",
    )
    assert "server_name " + values["domain"] + ";" in files["/etc/nginx/sites-available/api.conf"]


def test_the_hosts_install_exactly_the_files_the_stack_uploads(prod: ProgramRun) -> None:
    """Every artifact the user data names is an object the stack uploads to that key, and the
    uploaded file's digest is the one the hosts check."""
    conf = host_conf(prod)
    objects = {item.inputs["objectName"]: item.inputs for item in prod.of_type("volcengine:tos/bucketObject:BucketObject")}
    record = ReleaseRecord.from_json(objects["releases/api/current.json"]["content"].encode())
    for key, digest in ((conf["TOOLING_KEY"], conf["TOOLING_SHA256"]), (record.artifact_key, record.artifact_sha256)):
        assert key == f"artifacts/{digest}/{key.rsplit('/', 1)[-1]}"
        uploaded = objects[key]
        data = Path(uploaded["filePath"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == digest
        assert uploaded["contentMd5"] == hashlib.md5(data).hexdigest()
        assert uploaded["encryption"] == "AES256" and uploaded["publicAcl"] == "private"
        assert uploaded["bucketName"] == MOCK_BUCKET
    assert record.requirements.splitlines()[-1] == f"/var/lib/app-host/artifacts/{record.artifact_key.rsplit('/', 1)[-1]}"
    # The version's record: private, encrypted, JSON (so the provider reads it back), and
    # written under the key the hosts read.
    release = objects[record_key("api")]
    assert (release["encryption"], release["publicAcl"], release["contentType"]) == ("AES256", "private", "application/json")
    # Written after the files it names: a host that reads a new record finds its artifact.
    record_object = prod.named("app-artifacts-release")
    files = {item.urn for item in prod.of_type("volcengine:tos/bucketObject:BucketObject") if item.name != "app-artifacts-release"}
    assert len(files) == 2 and files <= set(record_object.dependencies)
    # The fleet boots only after the objects exist.
    fleet = prod.one("fastapi-deploy:compute:AppFleet")
    artifacts = prod.one("fastapi-deploy:storage:HostArtifacts")
    uploads = {item.urn for item in prod.descendants_of(artifacts.urn)}
    assert len(uploads) == 3 and uploads <= set(fleet.dependencies)


def test_prod_security_inputs(prod: ProgramRun) -> None:
    def rules(group: str) -> list[tuple[int, str]]:
        return sorted(
            (int(item.inputs["portStart"]), item.inputs["cidrIp"])
            for item in prod.of_type("volcengine:vpc/securityGroupRule:SecurityGroupRule")
            if item.inputs["securityGroupId"] == group
        )

    # The health gate is open to the CLB's health-check range only (BytePlus CLB docs,
    # "Configuring a server security group": 100.64.0.0/10).
    assert rules("app-hosts-sg-id") == [
        (22, FILLED_IN["adminCidrs"][0]), (80, "0.0.0.0/0"), (443, "0.0.0.0/0"), (8090, "100.64.0.0/10"),
    ]
    # The log collector: journals from the app subnets only, SSH from the admins; nothing else.
    assert rules("app-logs-sg-id") == [
        (22, FILLED_IN["adminCidrs"][0]), (19532, "10.20.0.0/24"), (19532, "10.20.1.0/24"),
    ]
    assert prod.one("volcengine:rds_postgresql/allowlist:Allowlist").inputs["allowLists"] == [
        "10.20.0.0/24",
        "10.20.1.0/24",
    ]
    assert prod.one("volcengine:rds_postgresql/instance:Instance").protect is True
    assert not any("endpointPublicAddress" in item.type for item in prod.registrations)
    assert prod.one("volcengine:rds_postgresql/account:Account").is_secret("accountPassword")


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_stacks_preview_with_unknown_values(stack: str) -> None:
    """`pulumi preview` runs the program with unknown outputs; nothing may assume them known."""
    run = run_main(stack, preview=True)
    assert run.outputs["database_password"] is None  # generated on `up`, unknown in a preview
    assert len(run.registrations) == len(run_main(stack).registrations)


def _shares_one_certificate(run: ProgramRun) -> None:
    """What makes ACME work behind a balancer, read from the user data the hosts boot: the
    shared store with the hosts' own key (the one whose policy covers tls/), Nginx handing
    challenges it does not hold to the store responder, and no Certbot run of its own (the
    tooling orders under the database lock)."""
    files = host_files(run)
    store = shell_settings(files["/etc/app-host/store.conf"])
    keys = {item.name for item in run.of_type("volcengine:iam/accessKey:AccessKey")}
    assert "app-files-hosts-key" in keys  # the mocks make each key's id from its name
    assert store["STORE_ACCESS_KEY_ID"] == "AKLTmockapp-files-hosts-key"
    assert store["STORE_BUCKET"] == run.one("volcengine:tos/bucket:Bucket").inputs["bucketName"]
    site = files["/etc/nginx/sites-available/api.conf"]
    assert "error_page 404 = @acme_store;" in site
    assert "proxy_pass http://unix:/run/app-host/acme-responder.sock;" in site
    assert not any("certbot" in " ".join(map(str, command)) for command in cloud_config_of(host_registration(run)).get("runcmd", []))


def test_prod_fleet_orders_one_certificate_for_all_hosts(prod: ProgramRun) -> None:
    assert host_conf(prod)["CERTIFICATE_KIND"] == "acme"
    _shares_one_certificate(prod)
    assert prod.warnings == []


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    fleet=st.booleans(),
    certificates=st.sampled_from(["acme", "self-signed"]),
    sizes=st.tuples(st.integers(0, 6), st.integers(0, 6), st.integers(1, 6)),
)
def test_no_accepted_config_gives_hosts_their_own_acme_orders(
    fleet: bool, certificates: str, sizes: tuple[int, int, int]
) -> None:
    """Whatever shape the stack takes, a host with ACME never orders on its own: either the
    config is refused, or the hosts share the one certificate."""
    minimum, desired, maximum = sizes
    overrides = {
        "fleetEnabled": fleet,
        "certificates": certificates,
        "fleetMinSize": minimum,
        "fleetDesiredSize": desired,
        "fleetMaxSize": maximum,
    }
    try:
        run = run_main("prod", overrides)
    except pulumi.RunError:
        return  # refused, with its message (other tests read those)
    if certificates == "acme":
        _shares_one_certificate(run)


def test_single_host_mode_uses_an_app_host_and_no_load_balancer() -> None:
    run = run_main("prod", {"fleetEnabled": False})
    counts = run.type_counts()
    assert counts["fastapi-deploy:compute:AppHost"] == 1
    assert counts[INSTANCE] == 1
    assert counts["volcengine:eip/address:Address"] == 1
    assert not any(name.startswith(("volcengine:clb", "volcengine:autoscaling")) for name in counts)
    assert "load_balancer_address" not in run.outputs
    assert run.outputs["public_address"] == "203.0.113.20"
    instance = run.one(INSTANCE)
    assert instance.is_secret("userData") and instance.is_secret("password")
    assert host_conf(run)["DOMAINS"] == FILLED_IN["domain"]
    rules = {item.name for item in run.of_type("volcengine:cloud_monitor/rule:Rule")}
    assert rules == {"app-alarms-host-cpu-high", "app-alarms-database-cpu-high", "app-alarms-database-storage-high"}
    assert run.warnings == []


def test_the_deploy_waits_for_every_host_to_serve_the_release(prod: ProgramRun) -> None:
    """The watch reads the hosts' reports through the bucket's public endpoint (it runs where
    `pulumi up` runs, outside the VPC), with the hosts' key as a secret, and runs again for
    each new release."""
    watch = prod.named("app-release-watch")
    environment = watch.inputs["environment"]
    record = ReleaseRecord.from_json(prod.named("app-artifacts-release").inputs["content"].encode())
    assert environment["RELEASE_ID"] == record.id and environment["RELEASE_APP"] == "api"
    assert environment["RELEASE_ATTEMPT_ID"] == record.attempt_id
    assert environment["STORE_ENDPOINT_URL"] == "https://tos-s3-cn-beijing.volces.com"
    # A key of its own: list the bucket, read the reports, nothing else (not the hosts' key,
    # which writes the certificate and reads the dumps).
    assert (environment["STORE_BUCKET"], environment["STORE_ACCESS_KEY_ID"]) == (MOCK_BUCKET, "AKLTmockapp-files-watch-key")
    policy = json.loads(prod.named("app-files-watch-policy").inputs["policyDocument"])
    assert policy == {
        "Statement": [
            {"Effect": "Allow", "Action": ["tos:ListBucket"], "Resource": [f"trn:tos:::{MOCK_BUCKET}"]},
            {"Effect": "Allow", "Action": ["tos:GetObject"], "Resource": [f"trn:tos:::{MOCK_BUCKET}/release-reports/*"]},
        ]
    }
    assert environment["RELEASE_MIN_HOSTS"] == "2" and environment["RELEASE_TIMEOUT_SECONDS"] == "1200"
    assert watch.is_secret("environment")
    assert watch.inputs["triggers"] == [record.id, record.attempt_id]
    assert watch.inputs["create"].endswith(" -m fastapi_deploy.app_host.release_watch")
    # After the hosts exist.
    fleet = prod.one("fastapi-deploy:compute:AppFleet")
    fleet_resources = {item.urn for item in prod.descendants_of(fleet.urn)}
    assert fleet_resources and fleet_resources <= set(prod.one("fastapi-deploy:deploy:ReleaseWatch").dependencies)


def test_healthz_gate_waits_for_the_fleet() -> None:
    run = run_main("prod", {"healthzGate": True, "healthzGateAttempts": 20})
    probe = run.named("app-healthz-probe")
    assert probe.inputs["environment"]["HEALTHZ_URL"] == f"https://{FILLED_IN['domain']}/readyz"
    assert probe.inputs["environment"]["HEALTHZ_ATTEMPTS"] == "20"
    assert probe.inputs["environment"]["HEALTHZ_CURL_OPTIONS"] == f"--resolve {FILLED_IN['domain']}:443:203.0.113.10"
    gate = run.one("fastapi-deploy:deploy:HealthzGate")
    # Depending on a component means depending on everything inside it.
    fleet = run.one("fastapi-deploy:compute:AppFleet")
    fleet_resources = {item.urn for item in run.descendants_of(fleet.urn)}
    assert fleet_resources and fleet_resources <= set(gate.dependencies)


def test_dev_stack_runs_the_same_host_in_docker() -> None:
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
    files = written_files(host)
    conf = shell_settings(files["/etc/app-host/host.conf"])
    assert conf["CERTIFICATE_KIND"] == "self-signed" and conf["DOMAINS"] == "api.dev.test"
    assert shell_settings(files["/etc/app-host/store.conf"]) == {
        "STORE_KIND": "local",
        "STORE_PATH": "/var/lib/app-host/store",
    }
    assert shell_settings(files["/etc/api/env"])["DATABASE_URL"] == f"postgresql://app:{MOCK_PASSWORD_32}@dev-postgres:5432/app"
    # The container's store holds the files the user data names.
    uploads = {upload["file"] for upload in host.inputs["uploads"]}
    record = ReleaseRecord.from_json(
        next(upload["content"] for upload in host.inputs["uploads"] if upload["file"].endswith(record_key("api"))).encode()
    )
    for key in (conf["TOOLING_KEY"], record.artifact_key, record_key("api")):
        assert f"/var/lib/app-host/store/{key}" in uploads
    assert host.is_secret("uploads") and database.is_secret("envs")
    assert run.secret_outputs == {"database_password"}
    assert run.outputs["url"] == "https://api.dev.test:8443"
    assert run.one("command:local:Command").inputs["environment"]["HEALTHZ_CURL_OPTIONS"] == (
        "--resolve api.dev.test:8443:127.0.0.1 --insecure"
    )


# --- secrets ---------------------------------------------------------------------------------------

SECRET_MARKER = "TOKEN=marker-7f3c9a1e"


def _plain_occurrences(run: ProgramRun, text: str) -> list[str]:
    """Places where `text` appears in a value that is NOT marked secret."""
    found = []

    def walk(value: Any, where: str) -> None:
        from tests.mocks.harness import contains_secret

        if contains_secret(value):
            return
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{where}.{key}")
        elif isinstance(value, list):
            for index, item in enumerate(value):
                walk(item, f"{where}[{index}]")
        elif text in str(value):
            found.append(where)

    for item in run.registrations:
        walk(item.raw_inputs, item.name)
    for key, value in run.outputs.items():
        if key not in run.secret_outputs and text in json.dumps(unwrap(value), default=str):
            found.append(f"output {key}")
    found += [f"warning {warning}" for warning in run.warnings if text in warning]
    return found


def test_a_secret_value_reaches_the_host_and_nothing_else_in_plain_text() -> None:
    run = run_main("prod", {"appSecretEnv": SECRET_MARKER}, secret_overrides={"appSecretEnv"})
    assert env_file(run)["TOKEN"] == "marker-7f3c9a1e"  # it does reach the host...
    assert _plain_occurrences(run, "marker-7f3c9a1e") == []  # ...and only in secret values


def test_the_secret_detection_sees_a_plain_leak() -> None:
    """The scan above is live: a plain value is found."""
    run = run_main("prod", {"appEnv": ["LEAK=marker-7f3c9a1e"]})
    assert _plain_occurrences(run, "marker-7f3c9a1e") == []  # user data is secret anyway...
    run = run_main("prod", {"alarmContactName": "marker-7f3c9a1e"})
    assert _plain_occurrences(run, "marker-7f3c9a1e")  # ...but a plain input is seen


def test_a_bad_secret_value_is_never_echoed() -> None:
    # appName is not secret by nature; marked secret (as `pulumi config set --secret` would),
    # its value must not appear in the error either.
    with pytest.raises(pulumi.RunError, match=r"fastapi-deploy:appName = \[secret\]") as raised:
        run_main("prod", {"appName": "NOT-SHOWN-9"}, secret_overrides={"appName"})
    assert "NOT-SHOWN-9" not in str(raised.value)
    with pytest.raises(pulumi.RunError, match=r"fastapi-deploy:appSecretEnv = \[secret\]: a line is not NAME=value") as raised:
        run_main("prod", {"appSecretEnv": "TOKEN hunter2"})
    assert "hunter2" not in str(raised.value)


# --- bad values --------------------------------------------------------------------------------------

OWN_APP = {"appAsgiPath": "my_api.main:app", "appMigrationCommand": "none", "appReadinessPath": "/health"}


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
            {"databaseBackupRetentionDays": 14},
            r"fastapi-deploy:databaseBackupRetentionDays = '14': 14 days cannot be applied.*; remove the key",
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
        (
            {"systemDiskType": "ESSD_PL1"},
            r"fastapi-deploy:systemDiskType = 'ESSD_PL1': .*Auto Scaling.*; use one of ESSD_PL0",
        ),
        (
            {"appPackage": "no/such/dir", **OWN_APP},
            r"fastapi-deploy:appPackage = 'no/such/dir': .*does not exist",
        ),
        (
            {"appPackage": "", "appRequirement": "my-api==1.0.0"},
            r"fastapi-deploy:appPackageIndexUrl = .*anyone can publish that name; name the index",
        ),
        (
            {"appPackage": "", "appRequirement": "my-api", "appPackageIndexUrl": "https://pypi.notes-demo.cn/simple/", **OWN_APP},
            r"fastapi-deploy:appRequirement = 'my-api': .*not pinned to one version",
        ),
        (
            {"appPackage": "docs"},
            r"fastapi-deploy:appAsgiPath = \(unset\): your own app is deployed .*; set it to your app's 'module:app'",
        ),
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
        run_main("dev", {"certificates": "acme", "acmeEmail": "ops@notes-demo.cn"})
