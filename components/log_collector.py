"""The fleet's journals leave the hosts: a private CA (`JournalCertificates`) and a collector
host (`LogCollector`) running Debian's systemd-journal-remote, which every app host's
systemd-journal-upload sends its journal to over HTTPS.

The collector has a fixed private address, so its certificate (and the hosts' user data that
trusts it) is made before it exists; it has no public address and takes port 19532 from the
app subnets only. Debian 12's journal-remote cannot check client certificates (built without
that support), so that rule is who may send; the hosts check the collector's certificate.
"""

from __future__ import annotations

import ipaddress

import pulumi
import pulumi_tls as tls
import pulumi_volcengine as volcengine
from pydantic import Field, SecretStr, field_validator

from fastapi_deploy.cloud_init.collector import render_collector_user_data
from fastapi_deploy.cloud_init.render import JOURNAL_REMOTE_PORT
from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token, secret
from fastapi_deploy.components.vm import Vm, VmArgs
from fastapi_deploy.stack_model.host_spec import LogCollectorSpec
from fastapi_deploy.stack_model.ingress import UnsafeIngressRule, check_admin_cidr, is_world, parse_cidr

__all__ = ["JournalCertificates", "JournalCertificatesArgs", "LogCollector", "LogCollectorArgs", "collector_address"]

# The CA outlives many leaves; a leaf is renewed by `pulumi up` 60 days before its end, which
# changes the hosts' user data (the fleet roll replaces them).
CA_HOURS = 20 * 365 * 24
LEAF_HOURS = 2 * 365 * 24
RENEW_HOURS = 60 * 24


def collector_address(subnet_cidr: str) -> str:
    """The collector's fixed private address: the 250th of the first app subnet (clear of
    the addresses the cloud keeps at each end, and of the ones hosts get first)."""
    network = ipaddress.ip_network(subnet_cidr)
    if network.num_addresses < 256:
        raise ValueError(f"subnet {subnet_cidr} is smaller than a /24; the collector's address needs one")
    return str(network[250])


class JournalCertificatesArgs(ComponentArgs):
    collector_address: str = Field(description="The collector's private IP address (its certificate's SAN). Required.")

    @field_validator("collector_address")
    @classmethod
    def _address(cls, value: str) -> str:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"collector_address={value!r} is not an IP address such as '10.20.0.250'") from None
        if not address.is_private:
            raise ValueError(f"collector_address={value!r} is public; the collector has a private address only")
        return value


class JournalCertificates(pulumi.ComponentResource):
    """A CA, the collector's server certificate and the hosts' client certificate (ECDSA
    P-256). Keys are secrets in the state."""

    ca_pem: pulumi.Output[str]
    server_cert_pem: pulumi.Output[str]
    server_key_pem: pulumi.Output[str]
    client_cert_pem: pulumi.Output[str]
    client_key_pem: pulumi.Output[str]
    url: str

    def __init__(self, name: str, args: JournalCertificatesArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("logs", "JournalCertificates"), name, None, opts)

        def key(label: str) -> tls.PrivateKey:
            return tls.PrivateKey(f"{name}-{label}-key", algorithm="ECDSA", ecdsa_curve="P256", opts=child(self))

        ca_key = key("ca")
        ca = tls.SelfSignedCert(
            f"{name}-ca",
            private_key_pem=ca_key.private_key_pem,
            is_ca_certificate=True,
            subject=tls.SelfSignedCertSubjectArgs(common_name=f"{name} journal CA"),
            validity_period_hours=CA_HOURS,
            allowed_uses=["cert_signing", "crl_signing"],
            opts=child(self),
        )

        def leaf(label: str, uses: list[str], ip_addresses: list[str]) -> tuple[tls.PrivateKey, tls.LocallySignedCert]:
            leaf_key = key(label)
            request = tls.CertRequest(
                f"{name}-{label}-request",
                private_key_pem=leaf_key.private_key_pem,
                subject=tls.CertRequestSubjectArgs(common_name=f"{name} {label}"),
                ip_addresses=ip_addresses or None,
                opts=child(self),
            )
            certificate = tls.LocallySignedCert(
                f"{name}-{label}-cert",
                cert_request_pem=request.cert_request_pem,
                ca_private_key_pem=ca_key.private_key_pem,
                ca_cert_pem=ca.cert_pem,
                validity_period_hours=LEAF_HOURS,
                early_renewal_hours=RENEW_HOURS,
                allowed_uses=["digital_signature", "key_encipherment", *uses],
                opts=child(self),
            )
            return leaf_key, certificate

        server_key, server = leaf("collector", ["server_auth"], [args.collector_address])
        client_key, client = leaf("hosts", ["client_auth"], [])
        self.ca_pem = ca.cert_pem
        self.server_cert_pem = server.cert_pem
        self.server_key_pem = secret(server_key.private_key_pem)
        self.client_cert_pem = client.cert_pem
        self.client_key_pem = secret(client_key.private_key_pem)
        self.url = f"https://{args.collector_address}:{JOURNAL_REMOTE_PORT}"
        self.register_outputs({"ca_pem": self.ca_pem, "url": self.url})


class LogCollectorArgs(ComponentArgs):
    vpc_id: StrInput = Field(description="VPC of the collector. Required.")
    subnet_id: StrInput = Field(description="Subnet the fixed address is in. Required.")
    private_address: str = Field(description="The collector's fixed private address. Required.")
    sender_cidrs: tuple[str, ...] = Field(
        min_length=1, description="Who may send journals (the app subnets). Required."
    )
    admin_cidrs: tuple[str, ...] = Field(default=(), description="SSH from these networks. Default (): no SSH.")
    admin_ssh_keys: tuple[str, ...] = Field(default=(), description="Public keys of the admin user. Default: none.")
    server_cert_pem: StrInput = Field(description="The collector's certificate. Required.")
    server_key_pem: StrInput = Field(description="The collector's key (secret). Required.")
    instance_type: str = Field(default="ecs.g3il.large", description="ECS type. Default ecs.g3il.large.")
    image_os_version: str = Field(default="12", description="Debian version. Default 12.")
    disk_gib: int = Field(default=100, ge=40, le=2048, description="System disk, which holds the journals. Default 100.")
    keep_days: int = Field(default=30, ge=1, le=3650, description="Days the journals are kept. Default 30.")

    @field_validator("admin_cidrs")
    @classmethod
    def _admins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            check_admin_cidr(cidr)
        return value

    @field_validator("sender_cidrs")
    @classmethod
    def _senders(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for cidr in value:
            if is_world(parse_cidr(cidr, field="sender CIDR")):
                raise UnsafeIngressRule(
                    f"sender CIDR {cidr!r} would open the collector ({JOURNAL_REMOTE_PORT}) to the world; "
                    "list the app subnets, such as '10.20.0.0/24'"
                )
        return value

    @property
    def max_use_gib(self) -> int:
        # Room for the OS and the journals' own journal: 70% of the disk.
        return max(1, self.disk_gib * 7 // 10)


class LogCollector(pulumi.ComponentResource):
    """A security group (19532 from the senders, 22 from the admins) and the collector VM.

    On delete: the VM and its disk go, and with them the received journals.
    """

    instance_id: pulumi.Output[str]
    security_group_id: pulumi.Output[str]

    def __init__(self, name: str, args: LogCollectorArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("logs", "LogCollector"), name, None, opts)
        group = volcengine.vpc.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            security_group_name=f"{name}-sg",
            description="Journals from the app subnets, SSH from admins",
            opts=child(self),
        )
        # The collector's own ports, not the app hosts' catalogue (which opens 80/443).
        openings = [(f"journal-{n}", JOURNAL_REMOTE_PORT, cidr) for n, cidr in enumerate(args.sender_cidrs)]
        openings += [(f"ssh-{n}", 22, cidr) for n, cidr in enumerate(args.admin_cidrs)]
        for label, port, cidr in openings:
            volcengine.vpc.SecurityGroupRule(
                f"{name}-{label}",
                security_group_id=group.id,
                direction="ingress",
                protocol="tcp",
                port_start=port,
                port_end=port,
                cidr_ip=cidr,
                policy="accept",
                description=f"{label} tcp {port}",
                opts=child(self),
            )

        def user_data(pems: list[str]) -> str:
            certificate, key = pems
            spec = LogCollectorSpec(
                server_cert_pem=certificate,
                server_key_pem=SecretStr(key),
                max_use_gib=args.max_use_gib,
                keep_days=args.keep_days,
                admin_ssh_keys=args.admin_ssh_keys,
            )
            return render_collector_user_data(spec)

        rendered = secret(pulumi.Output.all(args.server_cert_pem, args.server_key_pem).apply(user_data))
        vm = Vm(
            f"{name}-vm",
            VmArgs(
                subnet_id=args.subnet_id,
                security_group_ids=(group.id,),
                instance_type=args.instance_type,
                image_os_version=args.image_os_version,
                user_data=rendered,
                system_disk_gib=args.disk_gib,
                private_ip_address=args.private_address,
            ),
            child(self),
        )
        self.instance_id = vm.instance_id
        self.security_group_id = group.id
        self.register_outputs({"instance_id": self.instance_id, "security_group_id": self.security_group_id})
