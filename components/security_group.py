"""SecurityGroup: the app hosts' inbound rules, built from the ingress rule catalogue."""

from __future__ import annotations

import pulumi
import pulumi_volcengine as volcengine
from pydantic import Field, field_validator, model_validator

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token
from fastapi_deploy.stack_model.ingress import IngressRule, app_host_ingress_rules, check_admin_cidr
from fastapi_deploy.stack_model.volcengine_rules import TEXT_RULES

__all__ = ["SecurityGroup", "SecurityGroupArgs"]


class SecurityGroupArgs(ComponentArgs):
    vpc_id: StrInput = Field(description="VPC the group belongs to. Required.")
    admin_cidrs: tuple[str, ...] = Field(
        default=(),
        description="Networks that may reach SSH (22). Default (): no SSH at all. World-wide "
        "ranges (0.0.0.0/0, ::/0, anything wider than /8 or /32 for IPv6) are refused.",
    )
    extra_ingress_rules: tuple[IngressRule, ...] = Field(
        default=(),
        description="Openings beyond the app-host defaults (80 and 443 from anywhere). "
        "Default (): none. Each is checked like the defaults: a rule that covers 22, 5432 or "
        "8000 from the world is refused.",
    )
    description: str = Field(
        default="App hosts, HTTP and HTTPS from anywhere, SSH from admin networks only",
        description="Description shown in the console: letters, digits and , . _ space = - "
        "(Volcengine refuses other characters). Default: what the default rules allow.",
    )
    name: str = Field(
        default="",
        description="Security group name in the console. Default '': '<component name>-sg'.",
    )

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return TEXT_RULES["VPC description"].check(value)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return TEXT_RULES["VPC name"].check(value) if value else value

    @field_validator("admin_cidrs")
    @classmethod
    def _admin(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(check_admin_cidr(cidr) for cidr in value)

    @model_validator(mode="after")
    def _unique(self) -> SecurityGroupArgs:
        self.ingress_rules  # noqa: B018 - builds the rule set once to refuse duplicates early
        return self

    @property
    def ingress_rules(self) -> tuple[IngressRule, ...]:
        """Every inbound rule the group gets, in order."""
        return app_host_ingress_rules(self.admin_cidrs, self.extra_ingress_rules)


def _provider_ports(rule: IngressRule) -> tuple[int, int]:
    # Volcengine wants -1/-1 for protocols without ports; IngressRule already uses that.
    return rule.port_start, rule.port_end


class SecurityGroup(pulumi.ComponentResource):
    """A security group whose inbound rules are exactly `args.ingress_rules`.

    Only inbound rules are managed; outbound keeps Volcengine's default (all allowed), which
    the hosts need for packages, ACME and the database. On delete: the group and its rules
    go; instances still using it block the delete.
    """

    security_group_id: pulumi.Output[str]
    ingress_rules: tuple[IngressRule, ...]

    def __init__(
        self, name: str, args: SecurityGroupArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(project_token("network", "SecurityGroup"), name, None, opts)
        group = volcengine.vpc.SecurityGroup(
            f"{name}-sg",
            vpc_id=args.vpc_id,
            security_group_name=args.name or f"{name}-sg",
            description=args.description,
            opts=child(self),
        )
        self.ingress_rules = args.ingress_rules
        for rule in self.ingress_rules:
            port_start, port_end = _provider_ports(rule)
            volcengine.vpc.SecurityGroupRule(
                f"{name}-{rule.name}",
                security_group_id=group.id,
                direction="ingress",
                policy="accept",
                protocol=rule.protocol,
                port_start=port_start,
                port_end=port_end,
                cidr_ip=rule.source_cidr,
                description=rule.description or rule.name,
                opts=child(self),
            )
        self.security_group_id = group.id
        self.register_outputs(
            {
                "security_group_id": self.security_group_id,
                "ingress_rule_names": [rule.name for rule in self.ingress_rules],
            }
        )
