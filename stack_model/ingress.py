"""The ingress rule catalogue: every inbound opening an app host may have, in one place.

Pure (no Pulumi). The cloud security group, the policy checks, the property tests and the
table in docs/cloud-layer.md all read this module, so a port is opened or refused for one
reason only.

Safety follows cdk-nag's EC2RestrictedSSH: a rule is unsafe when its port range *covers* a
protected port from a world-wide source, whatever its protocol spelling ("all" protocols and
"all ports" included). Comparing `port == 22` would let `0-65535` or protocol `all` through.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fastapi_deploy.stack_model.host_spec import HEALTH_GATE_PORT
from fastapi_deploy.stack_model.volcengine_rules import TEXT_RULES

__all__ = [
    "APP_HOST_PUBLIC_TEMPLATES",
    "CATALOGUE",
    "CLB_HEALTH_CHECK_CIDR",
    "PROTECTED_PORTS",
    "IngressRule",
    "RuleTemplate",
    "UnsafeIngressRule",
    "app_host_ingress_rules",
    "catalogue_markdown",
    "check_admin_cidr",
    "clb_health_check_rule",
    "is_world",
    "parse_cidr",
    "rule_from_catalogue",
    "rules_opening_to_world",
]

Protocol = Literal["tcp", "udp", "icmp", "all"]

# Ports that must never be reachable from the world: what listens there is meant for Nginx
# (gunicorn on 8000), for the VPC (Postgres on 5432) or for admins only (SSH on 22).
PROTECTED_PORTS: dict[int, str] = {
    22: "SSH is for admins only: list their networks in adminCidrs",
    5432: "PostgreSQL is reachable only from the app subnets",
    8000: "the app server (gunicorn, uvicorn) is reached through Nginx only, never directly",
}

# A source this wide is "the world" for a protected port even when it is not /0: two /1
# rules cover the whole address space just as well. /8 (IPv4) and /32 (IPv6) are still
# larger than any one organisation's admin network.
_NARROWEST_WORLD_PREFIX = {4: 8, 6: 32}

_RULE_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class UnsafeIngressRule(ValueError):
    """A rule would open a protected port to the world."""


def parse_cidr(value: str, *, field: str = "cidr") -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """Parse a CIDR strictly: host bits must be zero, so a typo cannot silently widen a range."""
    text = value.strip()
    if "/" not in text:
        raise ValueError(
            f"{field}={value!r} has no prefix length; write a network such as "
            f"'{text or '203.0.113.7'}/32' for one address"
        )
    try:
        return ipaddress.ip_network(text, strict=True)
    except ValueError as error:
        reason = str(error)
        if "host bits set" in reason:
            loose = ipaddress.ip_network(text, strict=False)
            raise ValueError(
                f"{field}={value!r} has host bits set; the network is {loose.with_prefixlen!r}, "
                f"write that (or a /{loose.max_prefixlen} for one address)"
            ) from None
        raise ValueError(
            f"{field}={value!r} is not an IPv4 or IPv6 network ({reason}); write it as "
            "'203.0.113.0/24' or '2001:db8::/48'"
        ) from None


def is_world(network: ipaddress.IPv4Network | ipaddress.IPv6Network) -> bool:
    """True when the source is, for a protected port, as good as anyone on the internet."""
    return network.prefixlen < _NARROWEST_WORLD_PREFIX[network.version]


class RuleTemplate(BaseModel):
    """A named opening without a source: what is opened and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    protocol: Protocol
    port_start: int = Field(ge=-1, le=65535)
    port_end: int = Field(ge=-1, le=65535)
    purpose: str

    @field_validator("purpose")
    @classmethod
    def _purpose(cls, value: str) -> str:
        # It becomes the security group rule's description, which the API restricts.
        return TEXT_RULES["security group rule description"].check(value)


# Named like terraform-aws-modules' rules.tf: "<service>-<port>-<protocol>".
CATALOGUE: dict[str, RuleTemplate] = {
    "http-80-tcp": RuleTemplate(
        protocol="tcp",
        port_start=80,
        port_end=80,
        purpose="HTTP, ACME HTTP-01 challenges and the redirect to HTTPS",
    ),
    "https-443-tcp": RuleTemplate(
        protocol="tcp", port_start=443, port_end=443, purpose="HTTPS, the app, TLS ends on the host"
    ),
    "ssh-22-tcp": RuleTemplate(
        protocol="tcp", port_start=22, port_end=22, purpose="SSH for admins, keys only"
    ),
    "postgresql-5432-tcp": RuleTemplate(protocol="tcp", port_start=5432, port_end=5432, purpose="PostgreSQL"),
    "app-8000-tcp": RuleTemplate(
        protocol="tcp", port_start=8000, port_end=8000, purpose="The app server behind Nginx"
    ),
    "lb-health-gate-tcp": RuleTemplate(
        protocol="tcp",
        port_start=HEALTH_GATE_PORT,
        port_end=HEALTH_GATE_PORT,
        purpose="CLB health checks, open only while the app answers",
    ),
    "all-all": RuleTemplate(protocol="all", port_start=-1, port_end=-1, purpose="Everything"),
}

# Where a CLB's health checks come from: Volcengine (BytePlus) CLB docs, "Editing health
# check" (prerequisite: the servers' security group allows 100.64.0.0/10) and "Configuring a
# server security group" (layer-4 listeners check server-type groups from that range).
CLB_HEALTH_CHECK_CIDR = "100.64.0.0/10"


def clb_health_check_rule() -> IngressRule:
    """The opening a fleet behind the CLB needs: the health gate's port, from the CLB's
    health-check range only."""
    return rule_from_catalogue("lb-health-gate-tcp", CLB_HEALTH_CHECK_CIDR)

# What an app host opens to everyone: the two ports Nginx serves.
APP_HOST_PUBLIC_TEMPLATES: tuple[str, ...] = ("http-80-tcp", "https-443-tcp")


class IngressRule(BaseModel):
    """One inbound opening of a security group. Refuses, when built, anything that opens a
    protected port to the world."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Slug naming the rule; the security group rule resource is named from it.")
    protocol: Protocol = Field(description="tcp, udp, icmp or all (every protocol).")
    port_start: int = Field(
        ge=-1,
        le=65535,
        description="First port; -1 with protocol icmp or all, which have no ports.",
    )
    port_end: int = Field(ge=-1, le=65535, description="Last port, inclusive.")
    source_cidr: str = Field(description="Who may connect, as a CIDR such as '203.0.113.0/24'.")
    description: str = Field(
        default="",
        description="Why the opening exists; becomes the cloud rule's description (letters, "
        "digits and , . _ space = -). Default: none, the rule's name is used.",
    )

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _RULE_NAME.match(value):
            raise ValueError(
                f"rule name {value!r} must be 1-63 lower case letters, digits and hyphens, "
                "such as 'https-443-tcp-world'"
            )
        return value

    @field_validator("source_cidr")
    @classmethod
    def _source(cls, value: str) -> str:
        return parse_cidr(value, field="source_cidr").with_prefixlen

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return TEXT_RULES["security group rule description"].check(value) if value else value

    @model_validator(mode="after")
    def _ports_and_safety(self) -> IngressRule:
        portless = self.protocol in ("icmp", "all")
        if portless and (self.port_start, self.port_end) != (-1, -1):
            raise ValueError(
                f"rule {self.name!r}: protocol {self.protocol!r} has no ports, but got "
                f"{self.port_start}-{self.port_end}; use port_start=-1 and port_end=-1"
            )
        if not portless and not 1 <= self.port_start <= self.port_end <= 65535:
            raise ValueError(
                f"rule {self.name!r}: ports {self.port_start}-{self.port_end} are not a range "
                "within 1-65535 with start <= end"
            )
        exposed = self.protected_ports_exposed()
        if exposed:
            reasons = "; ".join(f"{port}: {PROTECTED_PORTS[port]}" for port in exposed)
            raise UnsafeIngressRule(
                f"rule {self.name!r} ({self.protocol} {self.port_range} from "
                f"{self.source_cidr}) would open port(s) {', '.join(map(str, exposed))} to the "
                f"world ({reasons}); use a narrower source CIDR or a port range that leaves "
                "them out"
            )
        return self

    @property
    def port_range(self) -> str:
        return "all ports" if self.port_start == -1 else f"{self.port_start}-{self.port_end}"

    def covers(self, port: int) -> bool:
        """True when this rule lets traffic to `port` in (icmp carries no ports)."""
        if self.protocol == "icmp":
            return False
        if self.protocol == "all" or self.port_start == -1:
            return True
        return self.port_start <= port <= self.port_end

    @property
    def opens_to_world(self) -> bool:
        return is_world(parse_cidr(self.source_cidr))

    def protected_ports_exposed(self) -> list[int]:
        """Protected ports this rule would open to the world (empty for a safe rule)."""
        if not self.opens_to_world:
            return []
        return [port for port in sorted(PROTECTED_PORTS) if self.covers(port)]


def _slug(cidr: str) -> str:
    """'203.0.113.0/24' -> '203-0-113-0-24': a CIDR as a resource-name suffix."""
    network = parse_cidr(cidr)
    if network.prefixlen == 0:
        return "world" if network.version == 4 else "world-v6"
    return re.sub(r"[^a-z0-9]+", "-", network.with_prefixlen.lower()).strip("-")


def rule_from_catalogue(template_name: str, source_cidr: str) -> IngressRule:
    """A rule from a catalogue entry and a source; unknown names fail with the known ones."""
    try:
        template = CATALOGUE[template_name]
    except KeyError:
        raise ValueError(
            f"{template_name!r} is not in the ingress rule catalogue; known rules: "
            f"{', '.join(sorted(CATALOGUE))}"
        ) from None
    return IngressRule(
        name=f"{template_name}-{_slug(source_cidr)}",
        protocol=template.protocol,
        port_start=template.port_start,
        port_end=template.port_end,
        source_cidr=source_cidr,
        description=template.purpose,
    )


def check_admin_cidr(value: str) -> str:
    """An admin network for SSH: strict, and never the world (0.0.0.0/0, ::/0 or close)."""
    network = parse_cidr(value, field="admin CIDR")
    if is_world(network):
        raise UnsafeIngressRule(
            f"admin CIDR {value!r} would open SSH (22) to the world; list the networks your "
            "admins connect from, such as '203.0.113.0/24' or '198.51.100.7/32', or leave "
            "the list empty for no SSH at all"
        )
    return network.with_prefixlen


def app_host_ingress_rules(
    admin_cidrs: Sequence[str] = (), extra_rules: Iterable[IngressRule] = ()
) -> tuple[IngressRule, ...]:
    """The app host's inbound rules: 80 and 443 from anywhere, 22 from the admin networks
    only (none: no SSH), plus vetted extras. Nothing else: 8000 and 5432 stay closed."""
    rules = [rule_from_catalogue(name, "0.0.0.0/0") for name in APP_HOST_PUBLIC_TEMPLATES]
    seen_admin: set[str] = set()
    for cidr in admin_cidrs:
        network = check_admin_cidr(cidr)
        if network in seen_admin:
            raise ValueError(f"admin CIDR {cidr!r} is listed twice; list each network once")
        seen_admin.add(network)
        rules.append(rule_from_catalogue("ssh-22-tcp", network))
    rules.extend(extra_rules)
    names = [rule.name for rule in rules]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"ingress rule names {duplicates} are used twice; give each rule its own")
    return tuple(rules)


def rules_opening_to_world(rules: Iterable[IngressRule], port: int) -> list[IngressRule]:
    """The rules that let the world reach `port` (for policy checks and tests)."""
    return [rule for rule in rules if rule.opens_to_world and rule.covers(port)]


def catalogue_markdown() -> str:
    """The catalogue as the Markdown table in docs/cloud-layer.md (a test keeps them equal)."""
    defaults = {"http-80-tcp": "anywhere", "https-443-tcp": "anywhere", "ssh-22-tcp": "adminCidrs only"}
    lines = [
        "| Rule | Protocol | Ports | App-host default | Purpose |",
        "| --- | --- | --- | --- | --- |",
    ]
    for name, template in CATALOGUE.items():
        ports = "all" if template.port_start == -1 else f"{template.port_start}-{template.port_end}"
        if template.port_start == template.port_end and template.port_start != -1:
            ports = str(template.port_start)
        opened = defaults.get(name, "closed")
        lines.append(f"| `{name}` | {template.protocol} | {ports} | {opened} | {template.purpose} |")
    protected = ", ".join(f"{port} ({reason.split(':')[0]})" for port, reason in PROTECTED_PORTS.items())
    lines.append("")
    lines.append(f"Never open to the world, in any rule: {protected}.")
    return "\n".join(lines) + "\n"
