"""Each component on its own, under mocks: exact resources, security-relevant inputs,
parentage and secrets."""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from types import SimpleNamespace
from typing import Any

import pulumi
import pytest
from pydantic import BaseModel, ValidationError

from fastapi_deploy.artifacts import tooling_artifact
from fastapi_deploy.cloud_init import render_user_data
from fastapi_deploy.components import (
    AppFleet,
    AppFleetArgs,
    AppHost,
    AppHostArgs,
    DockerAppHost,
    DockerAppHostArgs,
    DockerNetwork,
    DockerNetworkArgs,
    DockerPostgres,
    DockerPostgresArgs,
    HealthzGate,
    HealthzGateArgs,
    LoadBalancer,
    LoadBalancerArgs,
    Monitoring,
    MonitoringArgs,
    NatGateway,
    NatGatewayArgs,
    Network,
    NetworkArgs,
    ObjectStorage,
    ObjectStorageArgs,
    Postgres,
    PostgresArgs,
    SecurityGroup,
    SecurityGroupArgs,
    ServerGroupAttachment,
    Vm,
    VmArgs,
)
from fastapi_deploy.components.healthz_gate import PROBE_SCRIPT
from fastapi_deploy.components.postgres import NoPrivateEndpoint, private_endpoint
from fastapi_deploy.stack_model.host_spec import AppHostSpec, LocalStoreSpec
from fastapi_deploy.stack_model.ingress import IngressRule
from tests.mocks.harness import REPO, ProgramRun, VolcengineMocks, build_component, resolve

ZONES = ("cn-beijing-a", "cn-beijing-b")
SG = "volcengine:vpc/securityGroup:SecurityGroup"
SG_RULE = "volcengine:vpc/securityGroupRule:SecurityGroupRule"
INSTANCE = "volcengine:ecs/instance:Instance"
PASSWORD = "random:index/randomPassword:RandomPassword"
MOCK_PASSWORD = "Mock-Pw_0123456789abcdefghijklmnopqrstuvwxyz"


def assert_parented(run: ProgramRun, component_type: str, name: str) -> None:
    """Every resource of the run descends from the component and is named from its name."""
    component = run.one(component_type)
    assert component.name == name and not component.custom
    descendants = list(run.descendants_of(component.urn))
    others = [item for item in run.registrations if item is not component]
    assert sorted(item.urn for item in descendants) == sorted(item.urn for item in others)
    for item in descendants:
        assert item.name.startswith(f"{name}-"), item.name


def decoded(user_data_base64: str) -> str:
    return base64.b64decode(user_data_base64).decode()


# --- Network -------------------------------------------------------------------------------


def test_network_has_a_vpc_and_one_subnet_per_zone() -> None:
    run, network = build_component(lambda: Network("net", NetworkArgs(zone_ids=ZONES)))
    assert run.type_counts() == {
        "fastapi-deploy:network:Network": 1,
        "volcengine:vpc/vpc:Vpc": 1,
        "volcengine:vpc/subnet:Subnet": 2,
    }
    assert run.one("volcengine:vpc/vpc:Vpc").inputs["cidrBlock"] == "10.20.0.0/16"
    subnets = {
        item.inputs["zoneId"]: item.inputs["cidrBlock"]
        for item in run.of_type("volcengine:vpc/subnet:Subnet")
    }
    assert subnets == {"cn-beijing-a": "10.20.0.0/24", "cn-beijing-b": "10.20.1.0/24"}
    assert network.subnet_cidr_blocks == ("10.20.0.0/24", "10.20.1.0/24")
    assert resolve(network.subnet_ids)[0] == ["net-subnet-cn-beijing-a-id", "net-subnet-cn-beijing-b-id"]
    assert_parented(run, "fastapi-deploy:network:Network", "net")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"zone_ids": ("cn-beijing-a",)}, "at least 2"),
        ({"zone_ids": ("cn-beijing-a", "cn-beijing-a")}, "lists a zone twice"),
        ({"zone_ids": ZONES, "vpc_cidr": "8.8.0.0/16"}, "not private"),
        ({"zone_ids": ZONES, "vpc_cidr": "10.20.0.1/16"}, "host bits set"),
        ({"zone_ids": ZONES, "vpc_cidr": "10.20.0.0/24", "subnet_prefix_length": 24}, "not smaller"),
    ],
)
def test_network_refuses_bad_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        NetworkArgs(**args)


# --- NatGateway ------------------------------------------------------------------------------


def test_nat_gateway_gives_each_subnet_a_way_out_and_nothing_a_way_in() -> None:
    run, gateway = build_component(
        lambda: NatGateway(
            "egress",
            NatGatewayArgs(vpc_id="vpc", subnet_id="subnet-a", source_subnet_ids={"cn-beijing-a": "subnet-a", "cn-beijing-b": "subnet-b"}),
        )
    )
    assert run.type_counts() == {
        "fastapi-deploy:network:NatGateway": 1,
        "volcengine:nat/gateway:Gateway": 1,
        "volcengine:eip/address:Address": 1,
        "volcengine:eip/associate:Associate": 1,
        "volcengine:nat/snatEntry:SnatEntry": 2,
    }
    assert run.one("volcengine:nat/gateway:Gateway").inputs["subnetId"] == "subnet-a"
    assert run.one("volcengine:eip/address:Address").inputs["bandwidth"] == 10
    rules = {item.name: item.inputs for item in run.of_type("volcengine:nat/snatEntry:SnatEntry")}
    assert rules == {
        "egress-snat-cn-beijing-a": {"snatEntryName": "egress-cn-beijing-a", "natGatewayId": "egress-ngw-id", "subnetId": "subnet-a", "eipId": "egress-eip-id"},
        "egress-snat-cn-beijing-b": {"snatEntryName": "egress-cn-beijing-b", "natGatewayId": "egress-ngw-id", "subnetId": "subnet-b", "eipId": "egress-eip-id"},
    }
    assert resolve(gateway.public_address)[0] == "203.0.113.20"
    assert_parented(run, "fastapi-deploy:network:NatGateway", "egress")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"bandwidth_mbps": 500}, "less than or equal to 200"),
        ({"source_subnet_ids": {"beijing": "s"}}, "'beijing' is not a zone"),
        ({"source_subnet_ids": {}}, "at least 1 item"),
        ({"spec": "Tiny"}, "Small"),
    ],
)
def test_nat_gateway_refuses_bad_args(args: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"vpc_id": "vpc", "subnet_id": "s", "source_subnet_ids": {"cn-beijing-a": "s"}, **args}
    with pytest.raises(ValidationError, match=message):
        NatGatewayArgs(**values)


# --- SecurityGroup ---------------------------------------------------------------------------


def rule_inputs(run: ProgramRun) -> list[tuple[str, int, int, str]]:
    return sorted(
        (item.inputs["protocol"], item.inputs["portStart"], item.inputs["portEnd"], item.inputs["cidrIp"])
        for item in run.of_type(SG_RULE)
    )


def test_security_group_default_opens_only_http_and_https() -> None:
    run, group = build_component(lambda: SecurityGroup("hosts", SecurityGroupArgs(vpc_id="vpc-1")))
    assert run.type_counts() == {"fastapi-deploy:network:SecurityGroup": 1, SG: 1, SG_RULE: 2}
    assert rule_inputs(run) == [("tcp", 80, 80, "0.0.0.0/0"), ("tcp", 443, 443, "0.0.0.0/0")]
    assert {item.inputs["direction"] for item in run.of_type(SG_RULE)} == {"ingress"}
    assert {item.inputs["policy"] for item in run.of_type(SG_RULE)} == {"accept"}
    assert all(item.inputs["securityGroupId"] == "hosts-sg-id" for item in run.of_type(SG_RULE))
    assert_parented(run, "fastapi-deploy:network:SecurityGroup", "hosts")
    assert resolve(group.security_group_id)[0] == "hosts-sg-id"


def test_security_group_opens_ssh_to_admin_networks_only() -> None:
    run, _ = build_component(
        lambda: SecurityGroup(
            "hosts", SecurityGroupArgs(vpc_id="vpc-1", admin_cidrs=("203.0.113.0/24", "2001:db8::/48"))
        )
    )
    ssh = [rule for rule in rule_inputs(run) if rule[1] == 22]
    assert ssh == [("tcp", 22, 22, "2001:db8::/48"), ("tcp", 22, 22, "203.0.113.0/24")]
    assert len(run.of_type(SG_RULE)) == 4


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "0.0.0.0/1", "128.0.0.0/4", "2000::/3"])
def test_security_group_refuses_ssh_from_the_world(cidr: str) -> None:
    with pytest.raises(ValidationError, match=r"would open SSH \(22\) to the world.*list the networks"):
        SecurityGroupArgs(vpc_id="vpc-1", admin_cidrs=(cidr,))


@pytest.mark.parametrize(
    ("protocol", "start", "end", "cidr", "ports"),
    [
        ("tcp", 22, 22, "0.0.0.0/0", "22"),
        ("tcp", 5432, 5432, "::/0", "5432"),
        ("tcp", 8000, 8000, "0.0.0.0/0", "8000"),
        ("tcp", 1, 65535, "0.0.0.0/0", "22, 5432, 8000"),
        ("tcp", 5000, 9000, "0.0.0.0/0", "5432, 8000"),
        ("udp", 7000, 8080, "0.0.0.0/0", "8000"),
        ("all", -1, -1, "0.0.0.0/0", "22, 5432, 8000"),
        ("all", -1, -1, "::/0", "22, 5432, 8000"),
    ],
)
def test_security_group_refuses_world_rules_covering_protected_ports(
    protocol: str, start: int, end: int, cidr: str, ports: str
) -> None:
    with pytest.raises(ValidationError, match=rf"would open port\(s\) {ports} to the world"):
        IngressRule(name="extra", protocol=protocol, port_start=start, port_end=end, source_cidr=cidr)


def test_security_group_accepts_private_and_harmless_extras() -> None:
    extras = (
        IngressRule(
            name="app-from-vpc", protocol="tcp", port_start=8000, port_end=8000, source_cidr="10.20.0.0/16"
        ),
        IngressRule(name="ping", protocol="icmp", port_start=-1, port_end=-1, source_cidr="0.0.0.0/0"),
        IngressRule(name="metrics", protocol="tcp", port_start=9100, port_end=9200, source_cidr="0.0.0.0/0"),
    )
    run, group = build_component(
        lambda: SecurityGroup("hosts", SecurityGroupArgs(vpc_id="vpc-1", extra_ingress_rules=extras))
    )
    assert ("tcp", 8000, 8000, "10.20.0.0/16") in rule_inputs(run)
    assert ("icmp", -1, -1, "0.0.0.0/0") in rule_inputs(run)
    assert len(group.ingress_rules) == 5


def test_security_group_refuses_duplicate_rule_names() -> None:
    extra = IngressRule(
        name="https-443-tcp-world", protocol="tcp", port_start=443, port_end=443, source_cidr="0.0.0.0/0"
    )
    with pytest.raises(ValidationError, match="used twice"):
        SecurityGroupArgs(vpc_id="vpc-1", extra_ingress_rules=(extra,))


# --- Vm ------------------------------------------------------------------------------------------


def test_vm_behind_the_load_balancer_has_no_public_address(spec: AppHostSpec) -> None:
    cloud_config = render_user_data(spec).cloud_config
    run, vm = build_component(
        lambda: Vm("web", VmArgs(subnet_id="subnet-1", security_group_ids=("sg-1",), user_data=cloud_config))
    )
    assert run.type_counts() == {"fastapi-deploy:compute:Vm": 1, INSTANCE: 1, PASSWORD: 1}
    instance = run.one(INSTANCE)
    assert "eipAddress" not in instance.inputs and "eipId" not in instance.inputs
    # No key pair: the generated console password (sshd refuses it), secret in and out.
    assert instance.inputs["password"] == MOCK_PASSWORD[:24]
    assert instance.is_secret("password") and "password" in instance.additional_secret_outputs
    assert resolve(vm.console_password) == (MOCK_PASSWORD[:24], True)
    assert instance.inputs["imageId"] == "image-debian-12-new"
    assert instance.inputs["systemVolumeSize"] == 40
    assert instance.inputs["systemVolumeType"] == "ESSD_PL0"
    assert instance.inputs["securityGroupIds"] == ["sg-1"]
    assert "keyPairName" not in instance.inputs
    assert decoded(instance.inputs["userData"]) == cloud_config
    assert instance.is_secret("userData")
    assert "userData" in instance.additional_secret_outputs
    assert instance.replace_on_changes == ["userData"]
    # A newer public image build never replaces a running host (docs/cloud-layer.md).
    assert instance.ignore_changes == ["imageId"]
    assert resolve(vm.instance_public_ip)[0] == ""
    assert_parented(run, "fastapi-deploy:compute:Vm", "web")


def test_vm_looks_up_the_image_by_os_name_and_version() -> None:
    run, _ = build_component(
        lambda: Vm(
            "web",
            VmArgs(
                subnet_id="s",
                security_group_ids=("sg",),
                image_os_version="11",
                instance_type="ecs.c3il.large",
            ),
        )
    )
    token, call_args = run.calls[0]
    assert token == "volcengine:ecs/getImages:getImages"
    assert call_args["platform"] == "Debian" and call_args["isSupportCloudInit"] is True
    assert call_args["instanceTypeId"] == "ecs.c3il.large"
    assert run.one(INSTANCE).inputs["imageId"] == "image-debian-11"


def test_vm_without_a_matching_image_fails_with_what_the_region_offers() -> None:
    with pytest.raises(
        Exception, match=r"no public Debian 13 image.*offers: Debian 11, Debian 12, Debian 12.8"
    ):
        build_component(
            lambda: Vm("web", VmArgs(subnet_id="s", security_group_ids=("sg",), image_os_version="13"))
        )


def test_vm_with_public_bandwidth_gets_its_own_eip() -> None:
    run, vm = build_component(
        lambda: Vm(
            "web",
            VmArgs(subnet_id="s", security_group_ids=("sg",), public_bandwidth_mbps=5, key_pair_name="ops"),
        )
    )
    assert run.one("volcengine:eip/address:Address").inputs["bandwidth"] == 5
    association = run.one("volcengine:eip/associate:Associate")
    assert association.inputs == {
        "allocationId": "web-eip-id",
        "instanceId": "web-instance-id",
        "instanceType": "EcsInstance",
    }
    assert run.one(INSTANCE).inputs["keyPairName"] == "ops"
    # With a key pair, no password is made.
    assert "password" not in run.one(INSTANCE).inputs and not run.of_type(PASSWORD)
    assert resolve(vm.instance_public_ip)[0] == "203.0.113.20"
    assert_parented(run, "fastapi-deploy:compute:Vm", "web")


# --- LoadBalancer ------------------------------------------------------------------------------


def test_load_balancer_forwards_tcp_80_and_443_and_checks_the_hosts_health_gate() -> None:
    run, balancer = build_component(
        lambda: LoadBalancer(
            "lb", LoadBalancerArgs(vpc_id="vpc", subnet_id="subnet", master_zone_id="cn-beijing-a")
        )
    )
    assert run.type_counts() == {
        "fastapi-deploy:network:LoadBalancer": 1,
        "volcengine:clb/clb:Clb": 1,
        "volcengine:clb/serverGroup:ServerGroup": 2,
        "volcengine:clb/listener:Listener": 2,
    }
    clb = run.one("volcengine:clb/clb:Clb")
    assert clb.inputs["type"] == "public"
    assert clb.inputs["eipBillingConfig"]["bandwidth"] == 10
    listeners = {item.inputs["port"]: item.inputs for item in run.of_type("volcengine:clb/listener:Listener")}
    assert set(listeners) == {80, 443}
    for port, listener in listeners.items():
        assert listener["protocol"] == "TCP"
        assert listener["serverGroupId"] == f"lb-{'http' if port == 80 else 'https'}-id"
        check = listener["healthCheck"]
        # The gate's port (8090), not 443: Nginx accepts on 443 even with the app dead.
        assert check["enabled"] == "on" and check["port"] == 8090
        assert (check["interval"], check["timeout"], check["unHealthyThreshold"]) == (2, 2, 3)
        assert "uri" not in check and "httpCode" not in check
    assert resolve(balancer.load_balancer_address)[0] == "203.0.113.10"
    assert resolve(balancer.server_group_ids[443])[0] == "lb-https-id"
    assert_parented(run, "fastapi-deploy:network:LoadBalancer", "lb")


# --- ObjectStorage -------------------------------------------------------------------------------


def test_object_storage_bucket_is_private_encrypted_versioned_with_backup_expiry() -> None:
    run, storage = build_component(lambda: ObjectStorage("files", ObjectStorageArgs(region="cn-beijing")))
    assert run.type_counts() == {
        "fastapi-deploy:storage:ObjectStorage": 1,
        "random:index/randomString:RandomString": 1,
        "volcengine:tos/bucket:Bucket": 1,
        "volcengine:tos/bucketEncryption:BucketEncryption": 1,
        "volcengine:tos/bucketLifecycle:BucketLifecycle": 1,
        "volcengine:iam/user:User": 2,
        "volcengine:iam/policy:Policy": 2,
        "volcengine:iam/userPolicyAttachment:UserPolicyAttachment": 2,
        "volcengine:iam/accessKey:AccessKey": 2,
    }
    bucket = run.one("volcengine:tos/bucket:Bucket").inputs
    assert bucket["bucketName"] == "files-k3q9x2ab"
    assert bucket["publicAcl"] == "private" and bucket["enableVersion"] is True
    encryption = run.one("volcengine:tos/bucketEncryption:BucketEncryption").inputs
    assert encryption["rule"]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    rules = {
        rule["id"]: rule for rule in run.one("volcengine:tos/bucketLifecycle:BucketLifecycle").inputs["rules"]
    }
    assert rules["expire-backups"]["prefix"] == "backups/"
    assert rules["expire-backups"]["expiration"] == {"days": 30}
    assert rules["expire-old-versions"]["nonCurrentVersionExpiration"] == {"nonCurrentDays": 30}
    # The two keys' policies, written out from TOS's policy grammar (TRN trn:tos:::<bucket>[/key],
    # https://www.volcengine.com/docs/6349/102133): the app gets the bucket but never the
    # hosts' prefixes; the hosts get those prefixes and nothing else.
    policies = {item.name: json.loads(item.inputs["policyDocument"]) for item in run.of_type("volcengine:iam/policy:Policy")}
    assert policies["files-app-policy"] == {
        "Statement": [
            {
                "Effect": "Allow",
                "Action": [
                    "tos:GetObject", "tos:PutObject", "tos:DeleteObject", "tos:ListBucket", "tos:HeadBucket",
                    "tos:AbortMultipartUpload", "tos:ListMultipartUploadParts",
                ],
                "Resource": ["trn:tos:::files-k3q9x2ab", "trn:tos:::files-k3q9x2ab/*"],
            },
            {
                "Effect": "Deny",
                "Action": ["tos:*"],
                "Resource": [
                    "trn:tos:::files-k3q9x2ab/artifacts/*", "trn:tos:::files-k3q9x2ab/tls/*",
                    "trn:tos:::files-k3q9x2ab/releases/*", "trn:tos:::files-k3q9x2ab/release-reports/*",
                    "trn:tos:::files-k3q9x2ab/backups/*",
                ],
            },
        ]
    }
    # Hosts may list: without it S3 answers a GET of a missing key (no certificate yet) with
    # 403, not 404 (S3 API reference, GetObject, "Permissions").
    assert policies["files-hosts-policy"] == {
        "Statement": [
            {"Effect": "Allow", "Action": ["tos:ListBucket"], "Resource": ["trn:tos:::files-k3q9x2ab"]},
            # What the stack uploads: read, never written (a host must not choose what the
            # fleet installs).
            {
                "Effect": "Allow",
                "Action": ["tos:GetObject"],
                "Resource": ["trn:tos:::files-k3q9x2ab/artifacts/*", "trn:tos:::files-k3q9x2ab/releases/*"],
            },
            # Each host's report of what it serves, and releases abandoned after a failure.
            {
                "Effect": "Allow",
                "Action": ["tos:GetObject", "tos:PutObject"],
                "Resource": ["trn:tos:::files-k3q9x2ab/release-reports/*"],
            },
            {
                "Effect": "Allow",
                "Action": ["tos:GetObject", "tos:PutObject", "tos:DeleteObject"],
                "Resource": ["trn:tos:::files-k3q9x2ab/tls/*"],
            },
            # The database dumps: written (multipart when large) and read back by a restore;
            # never deleted by the hosts (the lifecycle rule expires them).
            {
                "Effect": "Allow",
                "Action": ["tos:GetObject", "tos:PutObject", "tos:AbortMultipartUpload", "tos:ListMultipartUploadParts"],
                "Resource": ["trn:tos:::files-k3q9x2ab/backups/*"],
            },
        ]
    }
    attachments = {
        (item.inputs["userName"], item.inputs["policyName"])
        for item in run.of_type("volcengine:iam/userPolicyAttachment:UserPolicyAttachment")
    }
    assert attachments == {("files-app-k3q9x2ab", "files-app-k3q9x2ab"), ("files-hosts-k3q9x2ab", "files-hosts-k3q9x2ab")}
    for key in run.of_type("volcengine:iam/accessKey:AccessKey"):
        assert "secretAccessKey" in key.additional_secret_outputs
    assert resolve(storage.app_secret_access_key) == ("mock-secret-of-files-app-key", True)
    assert resolve(storage.hosts_secret_access_key) == ("mock-secret-of-files-hosts-key", True)
    assert resolve(storage.bucket_name) == ("files-k3q9x2ab", False)
    assert_parented(run, "fastapi-deploy:storage:ObjectStorage", "files")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"region": "cn-beijing", "backups_prefix": "/backups"}, "must be non-empty, not start with '/'"),
        ({"region": "Beijing"}, "not a Volcengine region"),
        ({"region": "cn-beijing", "bucket_name_prefix": "Files"}, "lower case"),
    ],
)
def test_object_storage_refuses_bad_args(args: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ObjectStorageArgs(**args)


# --- Postgres ----------------------------------------------------------------------------------------


def postgres_args(**overrides: Any) -> PostgresArgs:
    values: dict[str, Any] = {
        "subnet_id": "subnet-a",
        "primary_zone_id": "cn-beijing-a",
        "secondary_zone_id": "cn-beijing-b",
        "allowed_cidrs": ("10.20.0.0/24", "10.20.1.0/24"),
    }
    values.update(overrides)
    return PostgresArgs(**values)


def test_postgres_is_private_backed_up_protected_and_keeps_its_password_secret() -> None:
    run, database = build_component(lambda: Postgres("db", postgres_args()))
    assert run.type_counts() == {
        "fastapi-deploy:database:Postgres": 1,
        "random:index/randomPassword:RandomPassword": 1,
        "volcengine:rds_postgresql/allowlist:Allowlist": 1,
        "volcengine:rds_postgresql/instance:Instance": 1,
        "volcengine:rds_postgresql/allowlistAssociate:AllowlistAssociate": 1,
        "volcengine:rds_postgresql/account:Account": 1,
        "volcengine:rds_postgresql/database:Database": 1,
    }
    assert run.one("volcengine:rds_postgresql/allowlist:Allowlist").inputs["allowLists"] == [
        "10.20.0.0/24",
        "10.20.1.0/24",
    ]
    instance = run.one("volcengine:rds_postgresql/instance:Instance")
    assert instance.protect is True
    assert instance.inputs["chargeInfo"] == {"chargeType": "PostPaid"}
    account = run.one("volcengine:rds_postgresql/account:Account")
    assert account.is_secret("accountPassword") and account.inputs["accountType"] == "Normal"
    # The password is the generated one, never a literal.
    assert account.inputs["accountPassword"] == "Mock-Pw_0123456789abcdefghijklmn"
    assert run.one("volcengine:rds_postgresql/database:Database").inputs["owner"] == "app"
    assert resolve(database.account_password)[1] is True
    url, url_is_secret = resolve(database.database_url)
    assert (
        url_is_secret
        and url.startswith("postgresql://app:Mock-Pw_")
        and url.endswith("@db-instance.pg.ivolces.com:5432/app")
    )
    assert resolve(database.endpoint_host) == ("db-instance.pg.ivolces.com", False)
    assert_parented(run, "fastapi-deploy:database:Postgres", "db")


def test_postgres_without_deletion_protection_is_not_protected() -> None:
    run, _ = build_component(
        lambda: Postgres("db", postgres_args(deletion_protection=False))
    )
    assert run.one("volcengine:rds_postgresql/instance:Instance").protect is False


def test_postgres_url_uses_the_read_write_endpoint_not_a_read_only_one() -> None:
    """The mocked instance lists its Cluster (read-write) endpoint and a read-only Custom one
    (fastapi_deploy.testing); writes must go to the first whatever the order."""

    class ReadOnlyFirst(VolcengineMocks):
        def computed_outputs(self, typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
            outputs = super().computed_outputs(typ, name, inputs)
            if "endpoints" in outputs:
                outputs["endpoints"] = list(reversed(outputs["endpoints"]))
            return outputs

    _, database = build_component(lambda: Postgres("db", postgres_args()), mock=ReadOnlyFirst())
    assert resolve(database.endpoint_host)[0] == "db-instance.pg.ivolces.com"
    read_only = SimpleNamespace(
        endpoint_type="Custom",
        addresses=[SimpleNamespace(network_type="Private", domain="ro.pg", ip_address="10.0.0.2", port="5432")],
    )
    with pytest.raises(NoPrivateEndpoint, match="no private address on its Cluster"):
        private_endpoint([read_only])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"allowed_cidrs": ("0.0.0.0/0",)}, "not a private network"),
        ({"allowed_cidrs": ("10.20.0.0/24", "::/0")}, "not a private network"),
        ({"allowed_cidrs": ("8.8.8.0/24",)}, "not a private network"),
        ({"allowed_cidrs": ()}, "at least 1"),
        ({"database_name": "app_"}, "ending with a letter or digit"),
        ({"account_name": "pg_app"}, "not pg_"),
        ({"database_name": "user"}, "SQL reserved word"),
        ({"storage_gib": 25}, "multiple of 10"),
        ({"database_name": "postgres"}, "reserved"),
    ],
)
def test_postgres_refuses_bad_args(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        postgres_args(**overrides)


# --- AppHost and AppFleet -------------------------------------------------------------------------


def test_app_host_boots_the_rendered_user_data_with_a_public_address(spec: AppHostSpec) -> None:
    run, host = build_component(
        lambda: AppHost("web", AppHostArgs(host_spec=spec, subnet_id="s", security_group_ids=("sg",)))
    )
    assert run.type_counts() == {
        "fastapi-deploy:compute:AppHost": 1,
        "fastapi-deploy:compute:Vm": 1,
        INSTANCE: 1,
        PASSWORD: 1,
        "volcengine:eip/address:Address": 1,
        "volcengine:eip/associate:Associate": 1,
    }
    expected = render_user_data(spec).cloud_config
    user_data = run.one(INSTANCE).inputs["userData"]
    assert decoded(user_data) == expected and len(expected.encode()) <= 16 * 1024
    assert run.one(INSTANCE).is_secret("userData")
    assert resolve(host.user_data_cloud_config) == (expected, True)
    assert resolve(host.instance_public_ip)[0] == "203.0.113.20"
    assert_parented(run, "fastapi-deploy:compute:AppHost", "web")


def test_app_host_renders_a_spec_that_arrives_as_an_output(spec: AppHostSpec) -> None:
    def program() -> AppHost:
        # Outputs belong to one run: create them inside the program.
        secret_spec = pulumi.Output.secret("db").apply(lambda _: spec)
        return AppHost("web", AppHostArgs(host_spec=secret_spec, subnet_id="s", security_group_ids=("sg",)))

    run, _ = build_component(program)
    assert decoded(run.one(INSTANCE).inputs["userData"]) == render_user_data(spec).cloud_config


def fleet_args(spec: AppHostSpec, **overrides: Any) -> AppFleetArgs:
    values: dict[str, Any] = {
        # Behind server groups: the hosts run the health gate the CLB checks.
        "host_spec": spec.model_copy(update={"health_gate_port": 8090}),
        "subnet_ids": ("subnet-a", "subnet-b"),
        "security_group_ids": ("sg-hosts",),
        "load_balancer_server_groups": (
            ServerGroupAttachment(server_group_id="group-80", port=80),
            ServerGroupAttachment(server_group_id="group-443", port=443),
        ),
    }
    values.update(overrides)
    return AppFleetArgs(**values)


def test_a_fleet_behind_server_groups_without_the_health_gate_is_refused(spec: AppHostSpec) -> None:
    # Without the gate no host would ever pass the CLB's check on 8090: a fleet serving nothing.
    args = fleet_args(spec, host_spec=spec)
    with pytest.raises(ValueError, match=r"health_gate_port=None: .*probe port 8090.*health_gate_port=8090"):
        build_component(lambda: AppFleet("fleet", args))


def test_app_fleet_scales_on_cpu_behind_the_server_groups(spec: AppHostSpec) -> None:
    run, fleet = build_component(lambda: AppFleet("fleet", fleet_args(spec, max_size=6)))
    assert run.type_counts() == {
        "fastapi-deploy:compute:AppFleet": 1,
        "volcengine:autoscaling/scalingGroup:ScalingGroup": 1,
        "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration": 1,
        "volcengine:autoscaling/scalingConfigurationAttachment:ScalingConfigurationAttachment": 1,
        "volcengine:autoscaling/scalingGroupEnabler:ScalingGroupEnabler": 1,
        "volcengine:autoscaling/scalingPolicy:ScalingPolicy": 2,
        PASSWORD: 1,
    }
    group = run.one("volcengine:autoscaling/scalingGroup:ScalingGroup")
    assert group.inputs["subnetIds"] == ["subnet-a", "subnet-b"]
    assert (
        group.inputs["minInstanceNumber"],
        group.inputs["desireInstanceNumber"],
        group.inputs["maxInstanceNumber"],
    ) == (2, 2, 6)
    assert group.inputs["serverGroupAttributes"] == [
        {"serverGroupId": "group-80", "port": 80, "weight": 50},
        {"serverGroupId": "group-443", "port": 443, "weight": 50},
    ]
    assert group.ignore_changes == ["desireInstanceNumber"]
    configuration = run.one("volcengine:autoscaling/scalingConfiguration:ScalingConfiguration")
    assert configuration.inputs["imageId"] == "image-debian-12-new"
    assert configuration.inputs["securityGroupIds"] == ["sg-hosts"]
    assert "eipBandwidth" not in configuration.inputs  # hosts sit behind the CLB: no public IP
    expected = render_user_data(spec.model_copy(update={"health_gate_port": 8090})).cloud_config
    assert decoded(configuration.inputs["userData"]) == expected
    assert len(expected.encode()) <= 16 * 1024
    assert configuration.is_secret("userData") and "userData" in configuration.additional_secret_outputs
    # The API needs a password or a key pair: the generated console password, kept secret.
    assert configuration.inputs["password"] == MOCK_PASSWORD[:24] and "keyPairName" not in configuration.inputs
    assert configuration.is_secret("password") and "password" in configuration.additional_secret_outputs
    policies = {
        item.name: item.inputs for item in run.of_type("volcengine:autoscaling/scalingPolicy:ScalingPolicy")
    }
    out, in_ = policies["fleet-scale-out"], policies["fleet-scale-in"]
    assert (
        out["alarmPolicyConditionComparisonOperator"],
        out["alarmPolicyConditionThreshold"],
        out["adjustmentValue"],
    ) == (">", "70", 1)
    assert (
        in_["alarmPolicyConditionComparisonOperator"],
        in_["alarmPolicyConditionThreshold"],
        in_["adjustmentValue"],
    ) == ("<", "30", -1)
    assert out["alarmPolicyEvaluationCount"] == 3 and out["cooldown"] == 300 and in_["cooldown"] == 600
    assert out["scalingPolicyType"] == "Alarm" and out["active"] is True
    enabler = run.one("volcengine:autoscaling/scalingGroupEnabler:ScalingGroupEnabler")
    attachment = run.one(
        "volcengine:autoscaling/scalingConfigurationAttachment:ScalingConfigurationAttachment"
    )
    assert attachment.urn in enabler.dependencies
    assert all(
        enabler.urn in item.dependencies
        for item in run.of_type("volcengine:autoscaling/scalingPolicy:ScalingPolicy")
    )
    assert resolve(fleet.user_data_cloud_config) == (expected, True)
    assert_parented(run, "fastapi-deploy:compute:AppFleet", "fleet")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_size": 3, "desired_size": 2}, "need min <= desired <= max"),
        ({"desired_size": 5, "max_size": 4}, "need min <= desired <= max"),
        ({"cpu_scale_out_percent": 60, "cpu_scale_in_percent": 60}, "0 points under.*flaps"),
        ({"cpu_scale_out_percent": 50, "cpu_scale_in_percent": 70}, "-20 points under.*flaps"),
        ({"cpu_scale_out_percent": 70, "cpu_scale_in_percent": 55}, "15 points under.*flaps"),
        ({"subnet_ids": ()}, "at least 1"),
    ],
)
def test_app_fleet_refuses_bad_sizes_and_thresholds(
    spec: AppHostSpec, overrides: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        fleet_args(spec, **overrides)


# --- Monitoring --------------------------------------------------------------------------------------


def rules_by_name(run: ProgramRun) -> dict[str, dict[str, Any]]:
    return {item.name: item.inputs for item in run.of_type("volcengine:cloud_monitor/rule:Rule")}


def test_monitoring_single_host_and_database() -> None:
    run, monitoring = build_component(
        lambda: Monitoring(
            "alarms",
            MonitoringArgs(
                region="cn-beijing",
                contact_email="ops@example.com",
                host_instance_ids=("i-web",),
                database_instance_id="pg-1",
            ),
        )
    )
    assert run.type_counts() == {
        "fastapi-deploy:monitoring:Monitoring": 1,
        "volcengine:cloud_monitor/contact:Contact": 1,
        "volcengine:cloud_monitor/contactGroup:ContactGroup": 1,
        "volcengine:cloud_monitor/rule:Rule": 3,
    }
    rules = rules_by_name(run)
    # No "host down" metric rule: a stopped instance sends no data points, so it never fires.
    assert set(rules) == {
        "alarms-host-cpu-high",
        "alarms-database-cpu-high",
        "alarms-database-storage-high",
    }
    cpu = rules["alarms-host-cpu-high"]
    assert cpu["namespace"] == "VCM_ECS" and cpu["conditions"][0]["threshold"] == "85"
    assert cpu["description"] == "Instance_CpuBusy_above_85_for_3_min"
    assert cpu["evaluationCount"] == 3
    assert cpu["originalDimensions"] == [{"key": "ResourceID", "values": ["i-web"]}]
    assert rules["alarms-database-storage-high"]["originalDimensions"] == [
        {"key": "ResourceID", "values": ["pg-1"]}
    ]
    for rule in rules.values():
        assert rule["contactGroupIds"] == ["alarms-contacts-id"]
        assert rule["alertMethods"] == ["Email"] and rule["regions"] == ["cn-beijing"]
    assert run.one("volcengine:cloud_monitor/contactGroup:ContactGroup").inputs["contactsIdLists"] == [
        "alarms-contact-id"
    ]
    assert resolve(monitoring.contact_group_id)[0] == "alarms-contacts-id"
    assert_parented(run, "fastapi-deploy:monitoring:Monitoring", "alarms")


def test_monitoring_fleet_watches_unhealthy_backends_and_all_instances() -> None:
    run, _ = build_component(
        lambda: Monitoring(
            "alarms",
            MonitoringArgs(
                region="cn-beijing",
                contact_email="ops@example.com",
                contact_phone="+8613800000000",
                fleet_hosts=True,
                load_balancer_id="clb-1",
                load_balancer_listener_ids=("l-80", "l-443"),
            ),
        )
    )
    rules = rules_by_name(run)
    assert set(rules) == {"alarms-host-cpu-high", "alarms-hosts-unhealthy"}
    unhealthy = rules["alarms-hosts-unhealthy"]
    assert unhealthy["namespace"] == "VCM_CLB"
    assert unhealthy["conditions"][0]["metricName"] == "listener_unhealthy_rs_count"
    assert unhealthy["originalDimensions"] == [
        {"key": "ResourceID", "values": ["clb-1"]},
        {"key": "ListenerID", "values": ["l-80", "l-443"]},
    ]
    assert rules["alarms-host-cpu-high"]["originalDimensions"] == [{"key": "ResourceID", "values": ["*"]}]
    assert unhealthy["alertMethods"] == ["Email", "SMS"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"contact_email": "ops"}, "not an email address"),
        ({"silence_minutes": 10}, "CloudMonitor accepts"),
        ({"load_balancer_listener_ids": ("l-1",)}, "needs load_balancer_id"),
    ],
)
def test_monitoring_refuses_bad_args(overrides: dict[str, Any], message: str) -> None:
    values: dict[str, Any] = {"region": "cn-beijing", "contact_email": "ops@example.com"}
    values.update(overrides)
    with pytest.raises(ValidationError, match=message):
        MonitoringArgs(**values)


# --- HealthzGate --------------------------------------------------------------------------------------


def test_healthz_gate_probes_with_bounded_retries_through_the_new_address() -> None:
    run, gate = build_component(
        lambda: HealthzGate(
            "gate",
            HealthzGateArgs(
                domain="api.example.com",
                address="203.0.113.10",
                attempts=12,
                interval_seconds=5,
                triggers=("cfg-1",),
            ),
        )
    )
    assert run.type_counts() == {"fastapi-deploy:deploy:HealthzGate": 1, "command:local:Command": 1}
    probe = run.one("command:local:Command").inputs
    assert probe["create"] == PROBE_SCRIPT and probe["interpreter"] == ["/bin/sh", "-c"]
    assert probe["environment"] == {
        "HEALTHZ_URL": "https://api.example.com/healthz",
        "HEALTHZ_ATTEMPTS": "12",
        "HEALTHZ_INTERVAL": "5",
        "HEALTHZ_TIMEOUT": "5",
        "HEALTHZ_CURL_OPTIONS": "--resolve api.example.com:443:203.0.113.10",
    }
    assert probe["triggers"] == ["cfg-1"]
    assert 'while [ "$attempt" -le "$HEALTHZ_ATTEMPTS" ]' in PROBE_SCRIPT and "exit 1" in PROBE_SCRIPT
    assert gate.healthz_url == "https://api.example.com/healthz"
    assert_parented(run, "fastapi-deploy:deploy:HealthzGate", "gate")


# --- Docker dev components -----------------------------------------------------------------------------


def test_docker_postgres_publishes_no_port_and_keeps_its_password_secret() -> None:
    run, database = build_component(lambda: DockerPostgres("pg", DockerPostgresArgs(network_name="dev")))
    container = run.one("docker:index/container:Container")
    assert "ports" not in container.inputs
    assert container.inputs["networksAdvanced"] == [{"name": "dev", "aliases": ["pg"]}]
    assert container.is_secret("envs") and "envs" in container.additional_secret_outputs
    assert any(env.startswith("POSTGRES_PASSWORD=Mock-Pw_") for env in container.inputs["envs"])
    url, secret = resolve(database.database_url)
    assert secret and url.startswith("postgresql://app:Mock-Pw_") and url.endswith("@pg:5432/app")
    assert_parented(run, "fastapi-deploy:dev:DockerPostgres", "pg")


def test_docker_app_host_boots_the_same_user_data_on_loopback_ports(spec: AppHostSpec) -> None:
    spec = spec.model_copy(update={"store": LocalStoreSpec()})
    context = str(REPO / "docker" / "app-host")
    run, host = build_component(
        lambda: DockerAppHost(
            "web", DockerAppHostArgs(host_spec=spec, network_name="dev", build_context=context)
        )
    )
    assert run.type_counts() == {
        "fastapi-deploy:dev:DockerAppHost": 1,
        "docker:index/image:Image": 1,
        "docker:index/container:Container": 1,
    }
    assert run.one("docker:index/image:Image").inputs["skipPush"] is True
    container = run.one("docker:index/container:Container")
    ports = sorted((port["internal"], port["external"], port["ip"]) for port in container.inputs["ports"])
    assert ports == [(80, 8080, "127.0.0.1"), (443, 8443, "127.0.0.1")]
    uploads = {upload["file"]: upload for upload in container.inputs["uploads"]}
    assert uploads["/var/lib/cloud/seed/nocloud/user-data"]["content"] == render_user_data(spec).cloud_config
    assert uploads["/var/lib/cloud/seed/nocloud/meta-data"]["content"].startswith("instance-id: web-")
    # The seed holds the database password: root-only, not the provider's default 0644.
    assert uploads["/var/lib/cloud/seed/nocloud/user-data"]["permissions"] == "0600"
    assert uploads["/var/lib/cloud/seed/nocloud/meta-data"]["permissions"] == "0600"
    # The host tooling sits in the container's store where the user data says, with its digest.
    tooling = tooling_artifact()
    placed = uploads[f"/var/lib/app-host/store/{tooling.ref.key}"]
    assert placed["source"] == str(tooling.path) and placed["sourceHash"] == tooling.ref.sha256
    assert container.is_secret("uploads")
    assert resolve(host.user_data_cloud_config)[1] is True
    assert_parented(run, "fastapi-deploy:dev:DockerAppHost", "web")


@pytest.mark.parametrize("address", ["0.0.0.0", "192.168.1.5", "::"])
def test_docker_app_host_refuses_non_loopback_publishing(spec: AppHostSpec, address: str) -> None:
    with pytest.raises(ValidationError, match="not a loopback address"):
        DockerAppHostArgs(
            host_spec=spec,
            network_name="dev",
            build_context=str(REPO / "docker" / "app-host"),
            published_address=address,
        )


def test_docker_network_is_a_user_defined_bridge() -> None:
    run, network = build_component(lambda: DockerNetwork("dev", DockerNetworkArgs()))
    assert run.one("docker:index/network:Network").inputs == {
        "name": "dev",
        "driver": "bridge",
        "internal": False,
    }
    assert resolve(network.network_name)[0] == "dev"


# --- Args documentation ------------------------------------------------------------------------------


ARGS_MODELS = [
    AppFleetArgs,
    AppHostArgs,
    DockerAppHostArgs,
    DockerNetworkArgs,
    DockerPostgresArgs,
    HealthzGateArgs,
    LoadBalancerArgs,
    MonitoringArgs,
    NetworkArgs,
    ObjectStorageArgs,
    PostgresArgs,
    SecurityGroupArgs,
    ServerGroupAttachment,
    VmArgs,
]


@pytest.mark.parametrize("model", ARGS_MODELS, ids=lambda model: model.__name__)
def test_every_args_field_states_its_default_or_that_it_is_required(model: type[BaseModel]) -> None:
    for name, field in model.model_fields.items():
        description = field.description or ""
        if field.is_required():
            assert "Required" in description, f"{model.__name__}.{name}: say it is required"
        else:
            assert "Default" in description, f"{model.__name__}.{name}: state the default as behaviour"


def test_caller_options_reach_the_children() -> None:
    """Options given to a component are not dropped: a protected component protects its
    children even where the component itself would not."""
    run, _ = build_component(
        lambda: Postgres("db", postgres_args(deletion_protection=False), pulumi.ResourceOptions(protect=True))
    )
    assert run.one("fastapi-deploy:database:Postgres").protect is True
    assert run.one("volcengine:rds_postgresql/instance:Instance").protect is True
