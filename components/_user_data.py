"""The bridge from the host layer's pure renderer to secret Pulumi Outputs, and what every
component that boots app hosts shares: the spec's fit to the instance type, and the console
password the cloud requires."""

from __future__ import annotations

import pulumi
import pulumi_random as random

from fastapi_deploy.cloud_init import render_user_data
from fastapi_deploy.components._base import child
from fastapi_deploy.stack_model.host_spec import AppHostSpec
from fastapi_deploy.stack_model.instance_types import INSTANCE_TYPES

__all__ = ["PASSWORD_SPECIALS", "CapacityMismatch", "HostSpecInput", "check_capacity", "console_password", "rendered_cloud_config"]

# A spec known now, or one that waits for outputs (the database URL, the bucket keys).
HostSpecInput = AppHostSpec | pulumi.Output[AppHostSpec]

# Specials from the set both the ECS and the Auto Scaling APIs accept (volcengine_rules
# ECS_PASSWORD; a test holds them to it).
PASSWORD_SPECIALS = "_-+="


class CapacityMismatch(ValueError):
    """The spec sizes gunicorn for another machine than the instance type."""


def check_capacity(spec: AppHostSpec, instance_type: str) -> AppHostSpec:
    """The spec, if its capacity is the instance type's (for types in the built-in table)."""
    size = INSTANCE_TYPES.get(instance_type)
    capacity = spec.capacity
    if size is not None and (capacity.vcpus, capacity.memory_mib) != (size.vcpus, size.memory_mib):
        raise CapacityMismatch(
            f"the host spec's capacity ({capacity.vcpus} vCPUs, {capacity.memory_mib} MiB, "
            f"{capacity.worker_count} workers) does not match instance_type={instance_type!r} "
            f"({size.vcpus} vCPUs, {size.memory_mib} MiB); build the spec with "
            f"Capacity(vcpus={size.vcpus}, memory_mib={size.memory_mib}) or pick the instance "
            "type it was sized for"
        )
    return spec


def rendered_cloud_config(spec: HostSpecInput, instance_type: str | None = None) -> pulumi.Output[str]:
    """#cloud-config text for `spec`, rendered inside an apply (the renderer takes plain
    values) and kept secret: it carries the database URL and the app's secrets. With an
    `instance_type`, a spec sized for another machine is refused."""

    def render(value: AppHostSpec) -> str:
        if instance_type is not None:
            check_capacity(value, instance_type)
        return render_user_data(value).cloud_config

    return pulumi.Output.secret(pulumi.Output.from_input(spec).apply(render))


def console_password(parent: pulumi.Resource, name: str) -> pulumi.Output[str]:
    """A generated root password for the instances' serial/VNC console.

    The cloud requires a password or a key pair for the image's login. A password serves as
    the console's break-glass login (reachable only with the cloud account) while sshd refuses
    passwords and root altogether; an imported key pair would instead authorise a key for root
    over SSH, and Volcengine documents only RSA keys for import. Secret everywhere."""
    password = random.RandomPassword(
        f"{name}-console-password",
        length=24,
        special=True,
        override_special=PASSWORD_SPECIALS,
        min_upper=2,
        min_lower=2,
        min_numeric=2,
        min_special=1,
        opts=child(parent),
    )
    return pulumi.Output.secret(password.result)
