"""The journal collector under mocks: the hosts trust the stack's CA and send to the collector's
fixed address, which its certificate names; the collector is private, boots after the NAT
gateway, and its key and the hosts' key travel only as secrets."""

from __future__ import annotations

import pytest

from fastapi_deploy.components.log_collector import LogCollectorArgs
from fastapi_deploy.stack_model.ingress import UnsafeIngressRule
from tests.mocks.harness import cloud_config_of, run_main, written_files

CONFIGURATION = "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"


def mock_pem(kind: str, resource: str) -> str:
    """What the mocks answer for a tls resource's PEM output (fastapi_deploy.testing)."""
    return f"-----BEGIN {kind}-----\nmock-{resource}\n-----END {kind}-----\n"
COLLECTOR_VM = "app-logs-vm-instance"


def test_hosts_send_their_journal_to_the_collectors_fixed_address_and_trust_the_ca() -> None:
    run = run_main("prod")
    configuration = run.one(CONFIGURATION)
    files = written_files(configuration)
    upload = files["/etc/systemd/journal-upload.conf.d/10-app-host.conf"]
    # The first app subnet is 10.20.0.0/24 (vpcCidr 10.20.0.0/16): its 250th address.
    assert "URL=https://10.20.0.250:19532" in upload.splitlines()
    assert files["/etc/app-host/journal/ca.pem"] == mock_pem("CERTIFICATE", "app-logs-pki-ca")
    assert files["/etc/app-host/journal/client.pem"] == mock_pem("CERTIFICATE", "app-logs-pki-hosts-cert")
    assert files["/etc/app-host/journal/client.key"] == mock_pem("PRIVATE KEY", "app-logs-pki-hosts-key")
    assert "systemd-journal-remote" in cloud_config_of(configuration)["packages"]
    assert configuration.is_secret("userData")
    # The collector's certificate names that address, and serves only as a server.
    request = run.named("app-logs-pki-collector-request")
    assert request.inputs["ipAddresses"] == ["10.20.0.250"]
    assert "server_auth" in run.named("app-logs-pki-collector-cert").inputs["allowedUses"]
    assert "client_auth" in run.named("app-logs-pki-hosts-cert").inputs["allowedUses"]
    assert all(key.inputs["algorithm"] == "ECDSA" for key in run.of_type("tls:index/privateKey:PrivateKey"))


def test_the_collector_is_private_at_its_address_after_the_nat_gateway_with_its_key_secret() -> None:
    run = run_main("prod")
    vm = run.named(COLLECTOR_VM)
    assert vm.inputs["primaryIpAddress"] == "10.20.0.250"
    assert vm.inputs["subnetId"] == "app-subnet-cn-beijing-a-id"
    assert vm.is_secret("userData")
    # No public address: nothing associates one with it.
    assert all(item.inputs.get("instanceId") != f"{COLLECTOR_VM}-id" for item in run.of_type("volcengine:eip/associate:Associate"))
    files = written_files(vm)
    assert files["/etc/app-host/journal/server.pem"] == mock_pem("CERTIFICATE", "app-logs-pki-collector-cert")
    assert files["/etc/app-host/journal/server.key"] == mock_pem("PRIVATE KEY", "app-logs-pki-collector-key")
    key = next(item for item in cloud_config_of(vm)["write_files"] if item["path"] == "/etc/app-host/journal/server.key")
    assert (key["owner"], key["permissions"], key.get("defer")) == ("root:systemd-journal-remote", "0640", True)
    # It installs its package through the NAT gateway, so it waits for the gateway's rules.
    collector = run.one("fastapi-deploy:logs:LogCollector")
    assert any("NatGateway" in dependency for dependency in collector.dependencies), collector.dependencies


def test_no_collector_without_a_fleet_or_with_log_collector_off() -> None:
    for overrides in ({"fleetEnabled": False}, {"logCollector": False}):
        run = run_main("prod", overrides)
        assert not run.of_type("fastapi-deploy:logs:LogCollector")
        assert not run.of_type("tls:index/privateKey:PrivateKey")
        host = run.of_type(CONFIGURATION) or run.of_type("volcengine:ecs/instance:Instance")
        assert "/etc/systemd/journal-upload.conf.d/10-app-host.conf" not in written_files(host[0])
        assert "log_collector_address" not in run.outputs


def test_the_collector_refuses_to_take_journals_from_the_world() -> None:
    settings = {"vpc_id": "v", "subnet_id": "s", "private_address": "10.20.0.250", "server_cert_pem": "c", "server_key_pem": "k"}
    with pytest.raises(ValueError, match=r"sender CIDR '0\.0\.0\.0/0' would open the collector \(19532\) to the world") as raised:
        LogCollectorArgs(**settings, sender_cidrs=("10.20.0.0/24", "0.0.0.0/0"))
    assert isinstance(raised.value.errors()[0]["ctx"]["error"], UnsafeIngressRule)  # type: ignore[attr-defined]
    assert LogCollectorArgs(**settings, sender_cidrs=("10.20.0.0/24",)).sender_cidrs == ("10.20.0.0/24",)
