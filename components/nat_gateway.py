"""NatGateway: outbound internet for hosts without a public address.

A fleet's hosts sit behind the CLB with private addresses only, and a Volcengine instance
without a public IP reaches the internet only through a public NAT gateway's SNAT rule
(https://www.volcengine.com/docs/6404/112021). Without one, first boot cannot reach the
package index or the ACME CA: no app, no certificate. Nothing comes in through it (no DNAT
rule); its public address is the fleet's source address for outbound traffic.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Literal

import pulumi
import pulumi_volcengine as volcengine
from pydantic import Field, field_validator

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token
from fastapi_deploy.components._eip import attached_eip

__all__ = ["NatGateway", "NatGatewayArgs"]

_ZONE = re.compile(r"^[a-z]{2}-[a-z0-9-]+-[a-z0-9]+$")


class NatGatewayArgs(ComponentArgs):
    vpc_id: StrInput = Field(description="VPC of the hosts. Required.")
    subnet_id: StrInput = Field(
        description="Subnet the gateway sits in; its zone is the gateway's primary zone "
        "(Volcengine fails it over to a standby zone). Required."
    )
    source_subnet_ids: Mapping[str, StrInput] = Field(
        min_length=1,
        description="Zone -> subnet whose hosts go out through the gateway, one SNAT rule "
        "each (named by zone, so adding a zone renames nothing). Required.",
    )
    spec: Literal["Small", "Medium", "Large", "Extra_Large_1", "Extra_Large_2"] = Field(
        default="Small",
        description="Gateway size (concurrent connections). Default Small: outbound traffic "
        "here is packages, the ACME CA and the app's own calls.",
    )
    bandwidth_mbps: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Peak bandwidth of the gateway's public address, in Mbit/s (billed by "
        "traffic, which Volcengine allows up to 200). Default 10.",
    )

    @field_validator("source_subnet_ids")
    @classmethod
    def _zones(cls, value: Mapping[str, StrInput]) -> Mapping[str, StrInput]:
        for zone in value:
            if not _ZONE.match(zone):
                raise ValueError(f"source_subnet_ids key {zone!r} is not a zone such as 'cn-beijing-a'")
        return value


class NatGateway(pulumi.ComponentResource):
    """A public NAT gateway, its public address, and one SNAT rule per source subnet.

    On delete: all of it goes; it holds no data. Depend on the component (not only on the
    gateway) so that hosts boot after the SNAT rules exist.
    """

    nat_gateway_id: pulumi.Output[str]
    public_address: pulumi.Output[str]

    def __init__(self, name: str, args: NatGatewayArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("network", "NatGateway"), name, None, opts)
        gateway = volcengine.nat.Gateway(
            f"{name}-ngw",
            nat_gateway_name=f"{name}-ngw",
            vpc_id=args.vpc_id,
            subnet_id=args.subnet_id,
            network_type="internet",
            spec=args.spec,
            billing_type="PostPaid",
            description="Managed by Pulumi for fastapi-deploy, outbound traffic of the app hosts",
            opts=child(self),
        )
        address, attached = attached_eip(
            self, name, bandwidth_mbps=args.bandwidth_mbps, instance_id=gateway.id, instance_type="Nat"
        )
        for zone, subnet_id in args.source_subnet_ids.items():
            volcengine.nat.SnatEntry(
                f"{name}-snat-{zone}",
                snat_entry_name=f"{name}-{zone}",
                nat_gateway_id=gateway.id,
                subnet_id=subnet_id,
                eip_id=address.id,
                # The address must be on the gateway before a rule can use it.
                opts=child(self, depends_on=[attached]),
            )
        self.nat_gateway_id = gateway.id
        self.public_address = address.eip_address
        self.register_outputs({"nat_gateway_id": self.nat_gateway_id, "public_address": self.public_address})
