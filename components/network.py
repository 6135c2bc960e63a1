"""Network: a VPC with one subnet per availability zone."""

from __future__ import annotations

import ipaddress
import re

import pulumi
import pulumi_volcengine as volcengine
from pydantic import Field, field_validator, model_validator

from fastapi_deploy.components._base import ComponentArgs, child, project_token

__all__ = ["Network", "NetworkArgs"]

_ZONE = re.compile(r"^[a-z]{2}-[a-z0-9-]+-[a-z0-9]+$")
# Volcengine allows letters, digits and , . _ space = - here (no parentheses or colons).
VPC_DESCRIPTION = "Managed by Pulumi for fastapi-deploy"


class NetworkArgs(ComponentArgs):
    zone_ids: tuple[str, ...] = Field(
        min_length=2,
        description="Availability zones, one subnet each; at least two so that the fleet, "
        "the load balancer and the database survive the loss of a zone. Required.",
    )
    vpc_cidr: str = Field(
        default="10.20.0.0/16",
        description="Private IPv4 range of the VPC. Default 10.20.0.0/16.",
    )
    subnet_prefix_length: int = Field(
        default=24,
        ge=16,
        le=28,
        description="Size of each zone's subnet, carved in order from vpc_cidr. Default /24 "
        "(251 usable addresses per zone).",
    )

    @field_validator("zone_ids")
    @classmethod
    def _zones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"zone_ids={list(value)} lists a zone twice; list each zone once")
        for zone in value:
            if not _ZONE.match(zone):
                raise ValueError(f"zone id {zone!r} is not a zone such as 'cn-beijing-a'")
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, value: str) -> str:
        try:
            network = ipaddress.IPv4Network(value, strict=True)
        except ValueError as error:
            raise ValueError(
                f"vpc_cidr={value!r} is not an IPv4 network ({error}); use one such as '10.20.0.0/16'"
            ) from None
        if not network.is_private:
            raise ValueError(
                f"vpc_cidr={value!r} is not private; use a range inside 10.0.0.0/8, "
                "172.16.0.0/12 or 192.168.0.0/16"
            )
        return network.with_prefixlen

    @model_validator(mode="after")
    def _room(self) -> NetworkArgs:
        vpc = ipaddress.IPv4Network(self.vpc_cidr)
        if self.subnet_prefix_length <= vpc.prefixlen:
            raise ValueError(
                f"subnet_prefix_length={self.subnet_prefix_length} is not smaller than the "
                f"VPC ({vpc.with_prefixlen}); use a longer prefix such as /24"
            )
        room = 2 ** (self.subnet_prefix_length - vpc.prefixlen)
        if room < len(self.zone_ids):
            raise ValueError(
                f"{vpc.with_prefixlen} holds only {room} /{self.subnet_prefix_length} subnets "
                f"for {len(self.zone_ids)} zones; widen vpc_cidr or lengthen the prefix"
            )
        return self

    @property
    def subnet_cidr_blocks(self) -> tuple[str, ...]:
        """The subnets' ranges, known before deploying (the database allowlist uses them)."""
        subnets = ipaddress.IPv4Network(self.vpc_cidr).subnets(new_prefix=self.subnet_prefix_length)
        return tuple(next(subnets).with_prefixlen for _ in self.zone_ids)


class Network(pulumi.ComponentResource):
    """A VPC and one subnet per zone.

    On delete: the VPC and subnets are removed once nothing uses them; they hold no data.
    """

    vpc_id: pulumi.Output[str]
    subnet_ids: pulumi.Output[list[str]]
    subnet_id_by_zone: dict[str, pulumi.Output[str]]
    subnet_cidr_blocks: tuple[str, ...]
    zone_ids: tuple[str, ...]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("network", "Network"), name, None, opts)
        vpc = volcengine.vpc.Vpc(
            f"{name}-vpc",
            vpc_name=f"{name}-vpc",
            cidr_block=args.vpc_cidr,
            description=VPC_DESCRIPTION,
            opts=child(self),
        )
        subnets = [
            volcengine.vpc.Subnet(
                # Named by zone, not position: adding a zone never renames the others.
                f"{name}-subnet-{zone}",
                subnet_name=f"{name}-{zone}",
                vpc_id=vpc.id,
                zone_id=zone,
                cidr_block=cidr,
                opts=child(self),
            )
            for zone, cidr in zip(args.zone_ids, args.subnet_cidr_blocks, strict=True)
        ]
        self.vpc_id = vpc.id
        self.subnet_ids = pulumi.Output.all(*[subnet.id for subnet in subnets])
        self.subnet_id_by_zone = {
            zone: subnet.id for zone, subnet in zip(args.zone_ids, subnets, strict=True)
        }
        self.subnet_cidr_blocks = args.subnet_cidr_blocks
        self.zone_ids = args.zone_ids
        self.register_outputs(
            {
                "vpc_id": self.vpc_id,
                "subnet_ids": self.subnet_ids,
                "subnet_cidr_blocks": list(self.subnet_cidr_blocks),
                "zone_ids": list(self.zone_ids),
            }
        )
