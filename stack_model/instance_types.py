"""vCPUs and memory of the Volcengine ECS instance types this project knows.

Pure (no Pulumi). The capacity model needs the size of the instance to pick gunicorn's worker
count; the cloud API is not asked at preview time, so the sizes live here. A type that is not
in the table works with an explicit `instanceVcpus` + `instanceMemoryMib` override.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["INSTANCE_TYPES", "InstanceSize", "UnknownInstanceType", "instance_size"]


@dataclass(frozen=True)
class InstanceSize:
    vcpus: int
    memory_mib: int


class UnknownInstanceType(ValueError):
    """The instance type is not in the table and no override was given."""


# Volcengine families keep a fixed memory-per-vCPU ratio: c (compute) 2 GiB, g (general)
# 4 GiB, r (memory) 8 GiB. "3il" is the 3rd generation on Intel Ice Lake, "3i" its sibling.
_GIB_PER_VCPU = {"c": 2, "g": 4, "r": 8}
_FAMILIES = ("c3il", "g3il", "r3il", "c3i", "g3i", "r3i")
_SIZES = {"large": 2, "xlarge": 4, "2xlarge": 8, "4xlarge": 16, "8xlarge": 32}

INSTANCE_TYPES: dict[str, InstanceSize] = {
    f"ecs.{family}.{size}": InstanceSize(vcpus=vcpus, memory_mib=vcpus * _GIB_PER_VCPU[family[0]] * 1024)
    for family in _FAMILIES
    for size, vcpus in _SIZES.items()
}


def instance_size(instance_type: str, vcpus: int = 0, memory_mib: int = 0) -> InstanceSize:
    """The size of `instance_type`; explicit vcpus and memory_mib (both > 0) win over the table."""
    if vcpus > 0 and memory_mib > 0:
        return InstanceSize(vcpus=vcpus, memory_mib=memory_mib)
    if (vcpus > 0) != (memory_mib > 0):
        raise UnknownInstanceType(
            "instanceVcpus and instanceMemoryMib override the table together; set both "
            f"(got instanceVcpus={vcpus}, instanceMemoryMib={memory_mib})"
        )
    try:
        return INSTANCE_TYPES[instance_type]
    except KeyError:
        families = sorted({name.split(".")[1] for name in INSTANCE_TYPES})
        raise UnknownInstanceType(
            f"instance type {instance_type!r} is not in the table of known sizes (families "
            f"{', '.join(families)}; sizes {', '.join(_SIZES)}); pick one of those, or set "
            "instanceVcpus and instanceMemoryMib to the type's vCPUs and memory in MiB"
        ) from None
