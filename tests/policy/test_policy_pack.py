"""The policy pack's policies, called the way the Pulumi engine calls them (pulumi-policy's
validate with ResourceValidationArgs / StackValidationArgs), with good and bad arguments;
and the pack run over what the stacks register under mocks."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from fastapi_deploy.policies import StackResource, evaluate
from policy.adapter import policies
from tests.mocks.harness import run_main

POLICIES = {policy.name: policy for policy in policies()}
OPTIONS = PolicyResourceOptions(False, [], None, [], PolicyCustomTimeouts(0, 0, 0), [])
RULE = "volcengine:vpc/securityGroupRule:SecurityGroupRule"


def violations_of(name: str, resource_type: str, props: dict[str, Any]) -> list[str]:
    policy = POLICIES[name]
    assert isinstance(policy, ResourceValidationPolicy)
    reported: list[str] = []
    args = ResourceValidationArgs(resource_type, props, f"urn:pulumi:t::p::{resource_type}::r", "r", OPTIONS, None)
    def report(message: str, urn: str | None = None) -> None:
        reported.append(message)

    policy.validate(args, report)
    return reported


def test_the_pack_has_every_policy_and_all_are_mandatory() -> None:
    assert set(POLICIES) == {
        "world-open-ports-only-80-443",
        "database-allowlist-private",
        "bucket-private",
        "database-backups-kept-7-days",
        "user-data-at-most-16kb",
        "volcengine-documented-inputs",
        "bucket-encrypted",
    }
    for policy in POLICIES.values():
        assert policy.enforcement_level is not None and policy.enforcement_level.value == "mandatory"


def ingress(protocol: str, start: int, end: int, cidr: str) -> dict[str, Any]:
    return {"direction": "ingress", "policy": "accept", "protocol": protocol, "portStart": start, "portEnd": end, "cidrIp": cidr, "securityGroupId": "sg"}


@pytest.mark.parametrize(
    ("props", "allowed"),
    [
        (ingress("tcp", 443, 443, "0.0.0.0/0"), True),
        (ingress("tcp", 80, 80, "::/0"), True),
        (ingress("tcp", 22, 22, "100.64.12.0/24"), True),
        (ingress("icmp", -1, -1, "0.0.0.0/0"), True),
        (ingress("tcp", 22, 22, "0.0.0.0/0"), False),
        (ingress("tcp", 5432, 5432, "0.0.0.0/0"), False),
        (ingress("tcp", 8000, 8000, "0.0.0.0/1"), False),
        (ingress("tcp", 80, 443, "0.0.0.0/0"), False),
        (ingress("udp", 443, 443, "0.0.0.0/0"), False),
        (ingress("all", -1, -1, "0.0.0.0/0"), False),
        ({**ingress("tcp", 22, 22, "0.0.0.0/0"), "direction": "egress"}, True),
    ],
)
def test_world_open_ports(props: dict[str, Any], allowed: bool) -> None:
    assert (violations_of("world-open-ports-only-80-443", RULE, props) == []) is allowed


def test_database_allowlist_private() -> None:
    typ = "volcengine:rds_postgresql/allowlist:Allowlist"
    assert violations_of("database-allowlist-private", typ, {"allowLists": ["10.20.0.0/24", "10.20.1.0/24"]}) == []
    assert violations_of("database-allowlist-private", typ, {"allowLists": ["10.20.0.0/24", "0.0.0.0/0"]})
    assert violations_of("database-allowlist-private", typ, {"allowLists": ["8.8.8.8"]})


def test_bucket_private() -> None:
    assert violations_of("bucket-private", "volcengine:tos/bucket:Bucket", {"bucketName": "b", "publicAcl": "private"}) == []
    assert violations_of("bucket-private", "volcengine:tos/bucket:Bucket", {"bucketName": "b", "publicAcl": "public-read"})
    assert violations_of("bucket-private", "volcengine:tos/bucketObject:BucketObject", {"publicAcl": "public-read"})
    public = '{"Statement":[{"Effect":"Allow","Principal":"*","Action":["tos:GetObject"],"Resource":["trn:tos:::b/*"]}]}'
    assert violations_of("bucket-private", "volcengine:tos/bucketPolicy:BucketPolicy", {"bucketName": "b", "policy": public})


def test_backups_kept() -> None:
    typ = "volcengine:rds_postgresql/backupPolicy:BackupPolicy"
    assert violations_of("database-backups-kept-7-days", typ, {"backupRetentionPeriod": 7}) == []
    assert violations_of("database-backups-kept-7-days", typ, {"backupRetentionPeriod": 3})


def test_user_data_size() -> None:
    typ = "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"
    small, large = (base64.b64encode(b"x" * size).decode() for size in (16384, 16385))
    assert violations_of("user-data-at-most-16kb", typ, {"userData": small}) == []
    assert violations_of("user-data-at-most-16kb", typ, {"userData": large})


def test_documented_inputs_refuse_a_bad_description() -> None:
    typ = "volcengine:vpc/vpc:Vpc"
    assert violations_of("volcengine-documented-inputs", typ, {"cidrBlock": "10.20.0.0/16", "description": "Managed by Pulumi"}) == []
    found = violations_of("volcengine-documented-inputs", typ, {"cidrBlock": "10.20.0.0/16", "description": "Managed (by) Pulumi"})
    assert found and "description" in found[0]


def _resource(typ: str, name: str, props: dict[str, Any], depends: dict[str, list[PolicyResource]] | None = None) -> PolicyResource:
    return PolicyResource(typ, props, f"urn:pulumi:t::p::{typ}::{name}", name, OPTIONS, None, None, [], depends or {})


def test_bucket_encrypted_is_a_stack_policy() -> None:
    policy = POLICIES["bucket-encrypted"]
    assert isinstance(policy, StackValidationPolicy)
    bucket = _resource("volcengine:tos/bucket:Bucket", "files", {"bucketName": "files-1"})
    encryption = _resource("volcengine:tos/bucketEncryption:BucketEncryption", "enc", {"bucketName": "files-1"})
    # In a preview the name is unknown: the encryption's dependency on the bucket counts.
    unknown_bucket = _resource("volcengine:tos/bucket:Bucket", "other", {})
    preview_encryption = _resource("volcengine:tos/bucketEncryption:BucketEncryption", "enc2", {}, {"bucketName": [unknown_bucket]})

    def reported(resources: list[PolicyResource]) -> list[str]:
        found: list[str] = []

        def report(message: str, urn: str | None = None) -> None:
            found.append(message)

        policy.validate(StackValidationArgs(resources), report)
        return found

    assert reported([bucket, encryption]) == []
    assert reported([unknown_bucket, preview_encryption]) == []
    assert reported([bucket]) == ["files: the bucket has no server-side encryption (BucketEncryption)"]


@pytest.mark.parametrize("overrides", [{}, {"fleetEnabled": False}])
def test_the_prod_stack_passes_the_pack(overrides: dict[str, Any]) -> None:
    run = run_main("prod", overrides)
    verdicts = evaluate(StackResource(item.type, item.name, item.urn, item.inputs) for item in run.registrations)
    assert {name: found for name, found in verdicts.items() if found} == {}


def test_the_pack_fails_a_stack_that_opens_ssh_to_the_world() -> None:
    from fastapi_deploy.stack_model.ingress import IngressRule

    rule = IngressRule.model_construct(name="ssh-world", protocol="tcp", port_start=22, port_end=22, source_cidr="0.0.0.0/0", description="")
    verdicts = evaluate([StackResource(RULE, "ssh-world", "urn:x", {"direction": "ingress", "protocol": rule.protocol, "portStart": 22, "portEnd": 22, "cidrIp": rule.source_cidr})])
    assert verdicts["world-open-ports-only-80-443"]
