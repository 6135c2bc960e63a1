"""The stack's invariants as policies: plain functions over a resource's type and inputs,
used by the CrossGuard policy pack (policy/, run by `pulumi preview --policy-pack policy`)
and by the offline plan (`scripts/plan`). Any stack that uses these resource types is held
to them, not only this repository's.

Each resource policy returns the problems it finds (empty when the resource complies);
the stack policy looks at all resources together. Values unknown during a preview are
skipped by the callers.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi_deploy.stack_model.ingress import APP_HOST_PUBLIC_TEMPLATES, CATALOGUE, is_world, parse_cidr
from fastapi_deploy.stack_model.volcengine_rules import RULES, USER_DATA_LIMIT_BYTES, check_inputs

__all__ = [
    "RESOURCE_POLICIES",
    "STACK_POLICIES",
    "ResourcePolicy",
    "StackPolicy",
    "StackResource",
    "evaluate",
]

SECURITY_GROUP_RULE = "volcengine:vpc/securityGroupRule:SecurityGroupRule"
ALLOWLIST = "volcengine:rds_postgresql/allowlist:Allowlist"
BUCKET = "volcengine:tos/bucket:Bucket"
BUCKET_ENCRYPTION = "volcengine:tos/bucketEncryption:BucketEncryption"
BUCKET_OBJECT = "volcengine:tos/bucketObject:BucketObject"
BUCKET_POLICY = "volcengine:tos/bucketPolicy:BucketPolicy"
BACKUP_POLICY = "volcengine:rds_postgresql/backupPolicy:BackupPolicy"
ECS_INSTANCE = "volcengine:ecs/instance:Instance"
SCALING_CONFIGURATION = "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"

# The only openings the world may have: the two Nginx ports, each exactly (the catalogue).
WORLD_PORTS = frozenset(CATALOGUE[name].port_start for name in APP_HOST_PUBLIC_TEMPLATES)
MIN_BACKUP_DAYS = 7


@dataclass(frozen=True)
class ResourcePolicy:
    name: str
    description: str
    resource_types: tuple[str, ...]
    check: Callable[[str, Mapping[str, Any]], list[str]]


@dataclass(frozen=True)
class StackResource:
    """What a stack policy sees of one resource."""

    type: str
    name: str
    urn: str
    props: Mapping[str, Any]
    property_dependencies: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(frozen=True)
class StackPolicy:
    name: str
    description: str
    check: Callable[[Sequence[StackResource]], list[tuple[str, str]]]


def _world_ports(_: str, props: Mapping[str, Any]) -> list[str]:
    if props.get("direction") != "ingress" or props.get("policy", "accept") != "accept":
        return []
    cidr = props.get("cidrIp")
    if not cidr:
        return []
    if not is_world(parse_cidr(str(cidr))):
        return []
    protocol, start, end = props.get("protocol"), props.get("portStart"), props.get("portEnd")
    if protocol == "icmp":
        return []
    if protocol == "tcp" and start == end and start in WORLD_PORTS:
        return []
    ports = "all ports" if start == -1 else f"{start}-{end}"
    return [
        f"{protocol} {ports} is open to {cidr}; the world may reach tcp "
        f"{' and '.join(map(str, sorted(WORLD_PORTS)))} only (each on its own)"
    ]


def _private_allowlist(_: str, props: Mapping[str, Any]) -> list[str]:
    problems = []
    for entry in props.get("allowLists") or []:
        text = str(entry)
        network = parse_cidr(text if "/" in text else f"{text}/{128 if ':' in text else 32}")
        if is_world(network) or not network.is_private:
            problems.append(f"{entry} is not a private network; the database takes the app subnets only")
    return problems


def _private_bucket(typ: str, props: Mapping[str, Any]) -> list[str]:
    acl = props.get("publicAcl")
    if typ == BUCKET and acl not in (None, "private"):
        return [f"bucket ACL is {acl!r}; it must be private"]
    if typ == BUCKET_OBJECT and acl not in (None, "private", "default"):
        return [f"object ACL is {acl!r}; objects stay private"]
    if typ == BUCKET_POLICY:
        try:
            document = json.loads(str(props.get("policy") or "{}"))
        except json.JSONDecodeError:
            return ["the bucket policy is not JSON"]
        for statement in document.get("Statement", []):
            principal = statement.get("Principal")
            everyone = principal == "*" or (isinstance(principal, Mapping) and "*" in principal.values())
            if statement.get("Effect") == "Allow" and everyone:
                return ["the bucket policy allows everyone ('Principal': '*')"]
    return []


def _backups_kept(_: str, props: Mapping[str, Any]) -> list[str]:
    days = props.get("backupRetentionPeriod")
    if days is not None and int(days) < MIN_BACKUP_DAYS:
        return [f"backups are kept {days} days; keep them at least {MIN_BACKUP_DAYS}"]
    return []


def _user_data_size(_: str, props: Mapping[str, Any]) -> list[str]:
    data = props.get("userData")
    if not data:
        return []
    try:
        size = len(base64.b64decode(str(data), validate=True))
    except (binascii.Error, ValueError):
        size = len(str(data).encode())
    if size > USER_DATA_LIMIT_BYTES:
        return [f"user data is {size} bytes; ECS and Auto Scaling take at most {USER_DATA_LIMIT_BYTES}"]
    return []


def _documented_inputs(typ: str, props: Mapping[str, Any]) -> list[str]:
    return [f"{item.path}: {item.problem} [{item.source}]" for item in check_inputs(typ, "", props)]


RESOURCE_POLICIES: tuple[ResourcePolicy, ...] = (
    ResourcePolicy(
        "world-open-ports-only-80-443",
        "Security group rules open to the world (wider than /8, or /32 for IPv6) allow tcp 80 "
        "and 443 only: no SSH, PostgreSQL or app port, no port range, no 'all' protocol.",
        (SECURITY_GROUP_RULE,),
        _world_ports,
    ),
    ResourcePolicy(
        "database-allowlist-private",
        "The PostgreSQL allowlist holds private networks only, never a world range.",
        (ALLOWLIST,),
        _private_allowlist,
    ),
    ResourcePolicy(
        "bucket-private",
        "Buckets and their objects are private; no bucket policy allows everyone.",
        (BUCKET, BUCKET_OBJECT, BUCKET_POLICY),
        _private_bucket,
    ),
    ResourcePolicy(
        "database-backups-kept-7-days",
        "RDS backups are kept at least 7 days.",
        (BACKUP_POLICY,),
        _backups_kept,
    ),
    ResourcePolicy(
        "user-data-at-most-16kb",
        "Host user data fits the 16 KB ECS and Auto Scaling take (before Base64).",
        (ECS_INSTANCE, SCALING_CONFIGURATION),
        _user_data_size,
    ),
    ResourcePolicy(
        "volcengine-documented-inputs",
        "Names, descriptions, enums, ranges and required groups as Volcengine documents them "
        "(fastapi_deploy.stack_model.volcengine_rules, with sources).",
        tuple(sorted({rule.resource for rule in RULES})),
        _documented_inputs,
    ),
)


def _bucket_encrypted(resources: Sequence[StackResource]) -> list[tuple[str, str]]:
    """Every bucket has an encryption configuration naming it (by value, or in a preview by
    the property dependency on the bucket)."""
    encryptions = [item for item in resources if item.type == BUCKET_ENCRYPTION]
    problems = []
    for bucket in (item for item in resources if item.type == BUCKET):
        name = bucket.props.get("bucketName")
        covered = any(
            (name is not None and item.props.get("bucketName") == name)
            or bucket.urn in item.property_dependencies.get("bucketName", ())
            for item in encryptions
        )
        if not covered:
            problems.append((bucket.name, "the bucket has no server-side encryption (BucketEncryption)"))
    return problems


STACK_POLICIES: tuple[StackPolicy, ...] = (
    StackPolicy(
        "bucket-encrypted",
        "Every bucket has server-side encryption by default (a BucketEncryption for it).",
        _bucket_encrypted,
    ),
)


def evaluate(resources: Iterable[StackResource]) -> dict[str, list[str]]:
    """Every policy over a stack's resources: policy name -> violations ('name: problem')."""
    items = list(resources)
    verdicts: dict[str, list[str]] = {}
    for policy in RESOURCE_POLICIES:
        found = verdicts.setdefault(policy.name, [])
        for item in items:
            if item.type not in policy.resource_types:
                continue
            found += [f"{item.name}: {problem}" for problem in policy.check(item.type, item.props)]
    for stack_policy in STACK_POLICIES:
        verdicts[stack_policy.name] = [f"{name}: {problem}" for name, problem in stack_policy.check(items)]
    return verdicts
