"""A public address (EIP) attached to something a component made: the single host's VM or the
fleet's NAT gateway. Billed by traffic on BGP lines, so its bandwidth is a cap (1-200 Mbps,
checked by the provider rules) rather than a fee."""

from __future__ import annotations

import pulumi
import pulumi_volcengine as volcengine

from fastapi_deploy.components._base import child

__all__ = ["attached_eip"]


def attached_eip(
    parent: pulumi.ComponentResource,
    name: str,
    *,
    bandwidth_mbps: int,
    instance_id: pulumi.Input[str],
    instance_type: str,
) -> tuple[volcengine.eip.Address, volcengine.eip.Associate]:
    """`{name}-eip` and its `{name}-eip-association` to `instance_id` (of `instance_type`,
    such as EcsInstance or Nat), both children of `parent`."""
    address = volcengine.eip.Address(
        f"{name}-eip",
        name=f"{name}-eip",
        billing_type="PostPaidByTraffic",
        bandwidth=bandwidth_mbps,
        isp="BGP",
        opts=child(parent),
    )
    association = volcengine.eip.Associate(
        f"{name}-eip-association",
        allocation_id=address.id,
        instance_id=instance_id,
        instance_type=instance_type,
        opts=child(parent),
    )
    return address, association
