"""Volcengine's documented input rules for every resource type this project creates, as data.

Mocks accept any input; the provider checks only a few (its schema's Required, enum and
range checks); the cloud API checks the rest at apply time, long after a preview passed. Each
rule here is written once, with where it is stated, and is checked on everything the stacks
register under mocks (tests/contracts), by the policy pack and by the offline plan, and
components use the text rules to refuse bad names early.

Sources, abbreviated in the rules:
- TF: volcengine/terraform-provider-volcengine at v0.0.194 (commit 4446a06d6272967c), the
  provider pulumi-volcengine 0.0.47 bridges; paths below its `volcengine/` directory.
- CC: Volcengine's own Cloud Control resource schemas (volcengine/terraform-provider-volcenginecc
  at fe912e8600d5), which copy the OpenAPI parameter rules.
- Docs: the Volcengine and BytePlus OpenAPI pages named by URL.

A rule's `check` takes the registered inputs (Pulumi's camelCase names, secrets unwrapped)
and returns the problems it finds; values not known yet (a preview) are skipped.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ECS_PASSWORD",
    "RDS_PG_PASSWORD",
    "RULES",
    "SCALING_DISK_TYPES",
    "SCALING_SYSTEM_DISK_GIB",
    "TEXT_RULES",
    "USER_DATA_LIMIT_BYTES",
    "PasswordRule",
    "Rule",
    "TextRule",
    "Violation",
    "check_inputs",
    "check_resources",
    "is_rds_pg_identifier",
    "rules_for",
    "tos_s3_request_problem",
]

TF = "terraform-provider-volcengine@4446a06d volcengine/"
CC = "terraform-provider-volcenginecc@fe912e86 internal/service/cloudcontrol/schemas/"
CC_DOCS = "terraform-provider-volcenginecc@fe912e86 docs/resources/"

# Disk types and system disk sizes a scaling configuration takes (CC
# Volcengine_AutoScaling_ScalingConfiguration.json, Volumes): fewer than ECS itself.
SCALING_DISK_TYPES = ("ESSD_PL0", "ESSD_FlexPL", "PTSSD")
SCALING_SYSTEM_DISK_GIB = (10, 500)

# Managed Prometheus (terraform-provider-volcengine volcengine/vmp/, and the CC schema for the
# instance types, whose suffix is how long the workspace keeps samples).
VMP_WORKSPACE_TYPES = ("vmp.standard.15d", "vmp.standard.30d", "vmp.standard.90d", "vmp.standard.180d", "vmp.standard.1y")
VMP_LEVELS = ("P0", "P1", "P2")
VMP_FOR = ("0s", "1m", "2m", "5m", "10m")
VMP_COMPARATORS = (">", ">=", "<", "<=", "==", "!=")

# Linux user data: at most 16 KB before Base64 (CC Volcengine_ECS_Instance.json:813 and
# Volcengine_AutoScaling_ScalingConfiguration.json:302).
USER_DATA_LIMIT_BYTES = 16 * 1024

_CJK = "\u4e00-\u9fff"
_CJK_PUNCTUATION = "\u3000-\u303f\uff00-\uffef"

_MISSING = object()


@dataclass(frozen=True)
class Violation:
    """One input the cloud would refuse."""

    resource_type: str
    resource_name: str
    path: str
    problem: str
    source: str

    def __str__(self) -> str:
        return f"{self.resource_type} {self.resource_name!r} {self.path}: {self.problem} [{self.source}]"


@dataclass(frozen=True)
class TextRule:
    """A name or description rule: length bounds and the characters allowed."""

    label: str
    pattern: str
    min_length: int
    max_length: int
    summary: str
    source: str
    forbidden_prefixes: tuple[str, ...] = ()

    def problem(self, value: str) -> str | None:
        if not self.min_length <= len(value) <= self.max_length:
            return f"{value!r} is {len(value)} characters; {self.label} takes {self.min_length}-{self.max_length}"
        if value and not re.fullmatch(self.pattern, value):
            return f"{value!r} is not a valid {self.label}: {self.summary}"
        for prefix in self.forbidden_prefixes:
            if value.lower().startswith(prefix):
                return f"{value!r} may not start with {prefix!r} ({self.label})"
        return None

    def check(self, value: str) -> str:
        """`value`, or ValueError naming the rule (for Args validators)."""
        problem = self.problem(value)
        if problem:
            raise ValueError(f"{problem} [{self.source}]")
        return value


@dataclass(frozen=True)
class PasswordRule:
    """What a generated password must satisfy; tests check the generator's settings."""

    label: str
    min_length: int
    max_length: int
    specials: str
    min_classes: int
    forbidden_prefixes: tuple[str, ...]
    source: str


# ECS and Auto Scaling passwords: 8-30 characters, three of four classes, not starting with
# '/' or '$6$'. The two APIs list different specials; these are the ones both accept.
ECS_PASSWORD = PasswordRule(
    "ECS and scaling configuration password",
    8,
    30,
    "`~!#$%^&*()_-+=|",
    3,
    ("/", "$6$"),
    "https://docs.byteplus.com/en/docs/ecs/ModifyInstanceAttribute; "
    f"{CC}Volcengine_AutoScaling_ScalingConfiguration.json:236",
)
RDS_PG_PASSWORD = PasswordRule(
    "RDS for PostgreSQL account password",
    8,
    32,
    "!@#$%^*()&_+-=",
    3,
    (),
    "https://docs.byteplus.com/en/docs/RDS_for_PG/createdbaccount",
)

# PostgreSQL's reserved key words (PostgreSQL 16 documentation, Appendix C, "reserved"):
# RDS refuses them as account and database names.
_PG_RESERVED = frozenset(
    ["all", "analyse", "analyze", "and", "any", "array", "as", "asc", "asymmetric", "both", "case", "cast", "check", "collate", "column", "constraint", "create", "current_catalog", "current_date", "current_role", "current_time", "current_timestamp", "current_user", "default", "deferrable", "desc", "distinct", "do", "else", "end", "except", "false", "fetch", "for", "foreign", "from", "grant", "group", "having", "in", "initially", "intersect", "into", "lateral", "leading", "limit", "localtime", "localtimestamp", "not", "null", "offset", "on", "only", "or", "order", "placing", "primary", "references", "returning", "select", "session_user", "some", "symmetric", "system_user", "table", "then", "to", "trailing", "true", "union", "unique", "user", "using", "variadic", "when", "where", "window", "with"]
)


def _text_rules() -> dict[str, TextRule]:
    lead = f"A-Za-z0-9{_CJK}"
    vpc_desc_chars = f"{lead},._ =\\-\uff0c\u3002"
    ecs_desc_chars = f"A-Za-z0-9{_CJK}._ \\-=,\uff0c\u3002"
    return {
        rule.label: rule
        for rule in (
            TextRule(
                "VPC name",
                f"[{lead}][{lead}._-]*",
                1,
                128,
                "start with a letter, digit or CJK character; then only . _ -",
                "https://docs.byteplus.com/en/docs/vpc/CreateVpc; https://www.volcengine.com/docs/6401/70747",
                ("http://", "https://"),
            ),
            TextRule(
                "VPC description",
                f"[{lead}][{vpc_desc_chars}]*",
                0,
                255,
                "start with a letter, digit or CJK character; then only , . _ space = - and full-width \uff0c\u3002",
                "https://docs.byteplus.com/en/docs/vpc/CreateSecurityGroup; https://www.volcengine.com/docs/6401/70747",
                ("http://", "https://"),
            ),
            TextRule(
                "NAT gateway name",
                f"[{lead}][{lead}._-]*",
                1,
                128,
                "start with a letter, digit or CJK character; then only . _ -",
                f"{CC_DOCS}natgateway_ngw.md:43",
            ),
            TextRule(
                "NAT gateway description",
                f"[{lead}][{vpc_desc_chars}]*",
                1,
                255,
                "start with a letter, digit or CJK character; then only , . _ space = - and full-width \uff0c\u3002",
                f"{CC_DOCS}natgateway_ngw.md:42",
            ),
            TextRule(
                "security group rule description",
                f"[{lead}][{vpc_desc_chars}]*",
                1,
                255,
                "start with a letter, digit or CJK character; then only , . _ space = - and full-width \uff0c\u3002",
                f"{CC}Volcengine_VPC_SecurityGroup.json:18",
            ),
            TextRule(
                "ECS instance name",
                f"[A-Za-z{_CJK}][A-Za-z0-9{_CJK}_.-]*",
                1,
                128,
                "start with a letter or CJK character (not a digit); then letters, digits, _ - .",
                "https://www.volcengine.com/docs/6396/76275",
            ),
            TextRule(
                "ECS description",
                f"[A-Za-z{_CJK}][{ecs_desc_chars}]*",
                0,
                255,
                "start with a letter or CJK character; then letters, digits, . space _ - = , \uff0c\u3002",
                "https://www.volcengine.com/docs/6396/76275",
            ),
            TextRule(
                "host name",
                r"[A-Za-z0-9](?:[A-Za-z0-9]|[.-](?=[A-Za-z0-9]))*",
                2,
                63,
                "letters, digits, . and -, not at either end and never two in a row",
                "https://docs.byteplus.com/en/docs/ecs/Batch-configuring-sequential-instance-names-or-hostnames",
            ),
            TextRule(
                "Auto Scaling name",
                f"[A-Za-z{_CJK}][A-Za-z0-9{_CJK}_-]*",
                1,
                128,
                "start with a letter or CJK character; then letters, digits, _ - (no dots)",
                f"{CC}Volcengine_AutoScaling_ScalingGroup.json:369; https://docs.byteplus.com/en/docs/as/CreateScalingPolicy",
            ),
            TextRule(
                "CLB name",
                f"[{lead}][{lead}._-]*",
                1,
                128,
                "start with a letter, digit or CJK character; then only . _ -",
                "https://volcengine.com/docs/6406/71771; https://docs.byteplus.com/id/docs/clb/CreateListener",
            ),
            TextRule(
                "RDS PostgreSQL instance name",
                f"[A-Za-z_{_CJK}][A-Za-z0-9{_CJK}_-]*",
                1,
                128,
                "not starting with a digit or -; letters, digits, CJK, _ -",
                f"{TF}rds_postgresql/rds_postgresql_instance/resource_volcengine_rds_postgresql_instance.go:112-116",
            ),
            TextRule(
                "RDS PostgreSQL allow list name",
                f"[A-Za-z_{_CJK}][A-Za-z0-9{_CJK}_-]*",
                1,
                128,
                "start with a letter, CJK character or _; then letters, digits, _ -",
                "terraform-provider-volcenginecc@fe912e86 docs/resources/rdspostgresql_allow_list.md",
            ),
            TextRule(
                "RDS PostgreSQL allow list description",
                r"(?s).*",
                0,
                200,
                "at most 200 characters",
                "terraform-provider-volcenginecc@fe912e86 docs/resources/rdspostgresql_allow_list.md",
            ),
            TextRule(
                "RDS PostgreSQL identifier",
                r"[A-Za-z][A-Za-z0-9_-]*[A-Za-z0-9]",
                2,
                63,
                "start with a letter, end with a letter or digit; letters, digits, _ -; not pg_...; "
                "not a reserved word",
                "https://docs.byteplus.com/en/docs/RDS_for_PG/createdbaccount; "
                "terraform-provider-volcenginecc@fe912e86 docs/resources/rdspostgresql_database.md",
                ("pg_",),
            ),
            TextRule(
                "CloudMonitor rule name",
                r"[^0-9-].*",
                1,
                128,
                "not starting with a digit or -",
                "terraform-provider-volcenginecc@fe912e86 docs/resources/cloudmonitor_rule.md",
            ),
            TextRule(
                "CloudMonitor rule description",
                f"[A-Za-z_{_CJK}][A-Za-z0-9{_CJK}_\\-{_CJK_PUNCTUATION}]*",
                0,
                255,
                "not starting with a digit, - or CJK punctuation; only letters, digits, CJK, _ - "
                "and CJK punctuation (no spaces)",
                "terraform-provider-volcenginecc@fe912e86 docs/resources/cloudmonitor_rule.md",
            ),
            TextRule(
                "CloudMonitor contact name",
                f"[A-Za-z_{_CJK}][A-Za-z0-9{_CJK}_-]*",
                1,
                128,
                "not starting with a digit or -; letters, digits, CJK, _ -",
                "https://docs.byteplus.com/en/docs/cloudmonitor/CreateContacts",
            ),
            TextRule(
                "CloudMonitor contact group description",
                r"(?s).+",
                1,
                255,
                "1-255 characters",
                "terraform-provider-volcenginecc@fe912e86 docs/resources/cloudmonitor_contact_group.md",
            ),
            TextRule(
                "IAM user name",
                r"[A-Za-z0-9_.@-]+",
                1,
                64,
                "letters, digits and _ . - @",
                "terraform-provider-volcenginecc@fe912e86 docs/resources/iam_user.md",
            ),
            TextRule(
                "IAM user description",
                r"(?s).*",
                0,
                255,
                "at most 255 characters",
                "terraform-provider-volcenginecc@fe912e86 docs/resources/iam_user.md",
            ),
            TextRule(
                "IAM policy name",
                r"[A-Za-z0-9+=,.@_-]+",
                1,
                64,
                "letters, digits and + = , . @ _ -",
                "https://www.volcengine.com/docs/6257/65025",
            ),
            TextRule(
                "IAM policy description",
                r"(?s).*",
                0,
                128,
                "at most 128 characters",
                "https://www.volcengine.com/docs/6257/65025",
            ),
            TextRule(
                "TOS bucket name",
                r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?",
                3,
                63,
                "lower-case letters, digits and -, not at either end",
                "ve-tos-golang-sdk@c103fba2 tos/check.go:7-20",
            ),
        )
    }


TEXT_RULES: dict[str, TextRule] = _text_rules()


@dataclass(frozen=True)
class Rule:
    """One documented rule for one resource type."""

    resource: str
    path: str
    summary: str
    source: str
    check: Callable[[Mapping[str, Any]], list[tuple[str, str]]]


def _get(inputs: Mapping[str, Any], path: str) -> list[tuple[str, Any]]:
    """(concrete path, value) for `path` ('a.b', 'items[].c'); missing values are absent."""
    found: list[tuple[str, Any]] = [("", inputs)]
    for part in path.split("."):
        many = part.endswith("[]")
        key = part[:-2] if many else part
        step: list[tuple[str, Any]] = []
        for prefix, value in found:
            if not isinstance(value, Mapping) or key not in value or value[key] is None:
                continue
            item = value[key]
            here = f"{prefix}.{key}" if prefix else key
            if many:
                if isinstance(item, list):
                    step += [(f"{here}[{index}]", element) for index, element in enumerate(item)]
            else:
                step.append((here, item))
        found = step
    return found


def _known(value: Any) -> bool:
    # Unknown values (a preview) reach the checks as None or as Pulumi's unknown sentinel.
    return value is not None and type(value).__name__ != "Unknown"


def _each(path: str, test: Callable[[Any], str | None]) -> Callable[[Mapping[str, Any]], list[tuple[str, str]]]:
    def check(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        for where, value in _get(inputs, path):
            if _known(value):
                problem = test(value)
                if problem:
                    problems.append((where, problem))
        return problems

    return check


def required(resource: str, path: str, source: str, why: str = "required") -> Rule:
    def check(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        return [] if _get(inputs, path) else [(path, f"missing: {why}")]

    return Rule(resource, path, why, source, check)


def at_least_one_of(resource: str, paths: Sequence[str], source: str, exactly: bool = False) -> Rule:
    wording = "exactly one" if exactly else "at least one"

    def check(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        present = [path for path in paths if _get(inputs, path) and _get(inputs, path)[0][1] != ""]
        if not present or (exactly and len(present) > 1):
            return [("|".join(paths), f"{wording} of {', '.join(paths)} must be set (got {present or 'none'})")]
        return []

    return Rule(resource, "|".join(paths), f"{wording} of {', '.join(paths)}", source, check)


def one_of(resource: str, path: str, values: Iterable[Any], source: str) -> Rule:
    allowed = tuple(values)
    return Rule(
        resource,
        path,
        f"one of {', '.join(map(str, allowed))}",
        source,
        _each(path, lambda value: None if value in allowed else f"{value!r} is not one of {', '.join(map(str, allowed))}"),
    )


def int_range(resource: str, path: str, low: int, high: int, source: str) -> Rule:
    def test(value: Any) -> str | None:
        try:
            number = int(value)
        except (TypeError, ValueError):
            return f"{value!r} is not a whole number"
        return None if low <= number <= high else f"{number} is outside {low}-{high}"

    return Rule(resource, path, f"{low}-{high}", source, _each(path, test))


def text(resource: str, path: str, rule: str) -> Rule:
    text_rule = TEXT_RULES[rule]
    return Rule(
        resource,
        path,
        f"{rule}: {text_rule.summary}",
        text_rule.source,
        _each(path, lambda value: text_rule.problem(str(value))),
    )


def custom(
    resource: str, path: str, summary: str, source: str, test: Callable[[Mapping[str, Any]], list[tuple[str, str]]]
) -> Rule:
    return Rule(resource, path, summary, source, test)


# --- the rules, by service -------------------------------------------------------------------------

VPC = "volcengine:vpc/vpc:Vpc"
SUBNET = "volcengine:vpc/subnet:Subnet"
SECURITY_GROUP = "volcengine:vpc/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE = "volcengine:vpc/securityGroupRule:SecurityGroupRule"
ECS_INSTANCE = "volcengine:ecs/instance:Instance"
KEY_PAIR = "volcengine:ecs/keyPair:KeyPair"
EIP = "volcengine:eip/address:Address"
EIP_ASSOCIATE = "volcengine:eip/associate:Associate"
NAT_GATEWAY = "volcengine:nat/gateway:Gateway"
SNAT_ENTRY = "volcengine:nat/snatEntry:SnatEntry"
CLB = "volcengine:clb/clb:Clb"
LISTENER = "volcengine:clb/listener:Listener"
SERVER_GROUP = "volcengine:clb/serverGroup:ServerGroup"
SCALING_GROUP = "volcengine:autoscaling/scalingGroup:ScalingGroup"
SCALING_CONFIGURATION = "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"
SCALING_POLICY = "volcengine:autoscaling/scalingPolicy:ScalingPolicy"
BUCKET = "volcengine:tos/bucket:Bucket"
BUCKET_ENCRYPTION = "volcengine:tos/bucketEncryption:BucketEncryption"
BUCKET_LIFECYCLE = "volcengine:tos/bucketLifecycle:BucketLifecycle"
BUCKET_OBJECT = "volcengine:tos/bucketObject:BucketObject"
PG_INSTANCE = "volcengine:rds_postgresql/instance:Instance"
PG_ALLOWLIST = "volcengine:rds_postgresql/allowlist:Allowlist"
PG_ACCOUNT = "volcengine:rds_postgresql/account:Account"
PG_DATABASE = "volcengine:rds_postgresql/database:Database"
PG_BACKUP_POLICY = "volcengine:rds_postgresql/backupPolicy:BackupPolicy"
CM_CONTACT = "volcengine:cloud_monitor/contact:Contact"
CM_CONTACT_GROUP = "volcengine:cloud_monitor/contactGroup:ContactGroup"
CM_RULE = "volcengine:cloud_monitor/rule:Rule"
CM_EVENT_RULE = "volcengine:cloud_monitor/eventRule:EventRule"
VMP_WORKSPACE = "volcengine:vmp/workspace:Workspace"
VMP_CONTACT = "volcengine:vmp/contact:Contact"
VMP_CONTACT_GROUP = "volcengine:vmp/contactGroup:ContactGroup"
VMP_NOTIFY = "volcengine:vmp/notifyPolicy:NotifyPolicy"
VMP_GROUPING = "volcengine:vmp/notifyGroupPolicy:NotifyGroupPolicy"
VMP_RULE = "volcengine:vmp/alertingRule:AlertingRule"
IAM_USER = "volcengine:iam/user:User"
IAM_POLICY = "volcengine:iam/policy:Policy"
IAM_ATTACHMENT = "volcengine:iam/userPolicyAttachment:UserPolicyAttachment"
IAM_ACCESS_KEY = "volcengine:iam/accessKey:AccessKey"


def _user_data(limit: int) -> Callable[[Any], str | None]:
    def test(value: Any) -> str | None:
        try:
            decoded = base64.b64decode(str(value), validate=True)
        except (binascii.Error, ValueError):
            return "not Base64: the API takes Base64 user data"
        if len(decoded) > limit:
            return f"{len(decoded)} bytes before Base64, over the {limit}-byte limit"
        return None

    return test


def _ports(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    protocol, start, end = inputs.get("protocol"), inputs.get("portStart"), inputs.get("portEnd")
    if not all(_known(value) for value in (protocol, start, end)):
        return []
    if protocol in ("tcp", "udp") and not 1 <= int(start) <= int(end) <= 65535:  # type: ignore[arg-type]
        return [("portStart", f"{protocol} ports {start}-{end} must lie within 1-65535, start <= end")]
    if protocol in ("icmp", "all") and (start, end) != (-1, -1):
        return [("portStart", f"{protocol} takes ports -1/-1, got {start}/{end}")]
    return []


def _private_vpc_cidr(value: Any) -> str | None:
    try:
        network = ipaddress.IPv4Network(str(value))
    except ValueError:
        return f"{value!r} is not an IPv4 network"
    ranges = ((ipaddress.IPv4Network("10.0.0.0/8"), 8), (ipaddress.IPv4Network("172.16.0.0/12"), 12), (ipaddress.IPv4Network("192.168.0.0/16"), 16))
    for parent, shortest in ranges:
        if network.subnet_of(parent) and shortest <= network.prefixlen <= 24:
            return None
    return f"{value} is not within 10.0.0.0/8~24, 172.16.0.0/12~24 or 192.168.0.0/16~24"


def _clb_zones(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    master, slave = inputs.get("masterZoneId"), inputs.get("slaveZoneId")
    if _known(slave) and not _known(master):
        return [("slaveZoneId", "a standby zone needs masterZoneId as well")]
    if _known(slave) and master == slave:
        return [("slaveZoneId", f"standby zone {slave} equals the master zone")]
    return []


def _traffic_bandwidth(billing_key: str, bandwidth_key: str) -> Callable[[Mapping[str, Any]], list[tuple[str, str]]]:
    def check(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        billing, bandwidth = inputs.get(billing_key), inputs.get(bandwidth_key)
        if billing == "PostPaidByTraffic" and _known(bandwidth) and not 1 <= int(bandwidth or 0) <= 200:
            return [(bandwidth_key, f"{bandwidth} Mbps: PostPaidByTraffic takes 1-200")]
        return []

    return check


def _nested(path: str, check: Callable[[Mapping[str, Any]], list[tuple[str, str]]]) -> Callable[[Mapping[str, Any]], list[tuple[str, str]]]:
    def run(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
        problems = []
        for where, value in _get(inputs, path):
            if isinstance(value, Mapping):
                problems += [(f"{where}.{inner}", problem) for inner, problem in check(value)]
        return problems

    return run


def _drain(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    if inputs.get("connectionDrainEnabled") == "on" and not _get(inputs, "connectionDrainTimeout"):
        return [("connectionDrainTimeout", "required when connectionDrainEnabled is on")]
    return []


def _scaling_sizes(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    low, desired, high = (inputs.get(key) for key in ("minInstanceNumber", "desireInstanceNumber", "maxInstanceNumber"))
    if all(_known(value) for value in (low, high)) and int(low) > int(high):  # type: ignore[arg-type]
        return [("minInstanceNumber", f"{low} exceeds maxInstanceNumber {high}")]
    if all(_known(value) for value in (low, desired, high)) and int(desired) != -1 and not int(low) <= int(desired) <= int(high):  # type: ignore[arg-type]
        return [("desireInstanceNumber", f"{desired} is not between {low} and {high}")]
    return []


def _multi_az(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    subnets = inputs.get("subnetIds")
    if isinstance(subnets, list) and len(subnets) > 1 and not _get(inputs, "multiAzPolicy"):
        return [("multiAzPolicy", "required when the group spans several subnets")]
    return []


_ADJUSTMENT_RANGES = {"QuantityChangeInCapacity": (-100, 100, False), "PercentChangeInCapacity": (-100, 10000, False), "TotalCapacity": (0, 100, True)}


def _adjustment(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    kind, value = inputs.get("adjustmentType"), inputs.get("adjustmentValue")
    if kind not in _ADJUSTMENT_RANGES or not _known(value):
        return []
    low, high, zero_ok = _ADJUSTMENT_RANGES[kind]
    number = int(value)  # type: ignore[arg-type]
    if not low <= number <= high or (number == 0 and not zero_ok):
        return [("adjustmentValue", f"{number} is outside {low}..{high}{'' if zero_ok else ' (not 0)'} for {kind}")]
    return []


def _percent_threshold(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    value = inputs.get("alarmPolicyConditionThreshold")
    if inputs.get("alarmPolicyConditionMetricUnit") == "Percent" and _known(value) and not 1 <= float(value) <= 100:  # type: ignore[arg-type]
        return [("alarmPolicyConditionThreshold", f"{value}: a Percent threshold takes 1-100")]
    return []


def _system_volume(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    kind, size = inputs.get("systemVolumeType"), inputs.get("systemVolumeSize")
    limits = {"PTSSD": (10, 500)}.get(str(kind), (20, 2048))
    if _known(size) and not limits[0] <= int(size) <= limits[1]:  # type: ignore[arg-type]
        return [("systemVolumeSize", f"{size} GiB is outside {limits[0]}-{limits[1]} for {kind}")]
    return []


def _scaling_system_volume(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    volumes = inputs.get("volumes")
    if isinstance(volumes, list) and volumes and isinstance(volumes[0], Mapping):
        size = volumes[0].get("size")
        low, high = SCALING_SYSTEM_DISK_GIB
        if _known(size) and not low <= int(size or 0) <= high:
            return [("volumes[0].size", f"system disk of {size} GiB is outside {low}-{high}")]
    return []


def _lifecycle_overlap(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Two rules whose prefixes overlap may not take the same action (TOS error 0007-00000107/108,
    0007-00000206): the provider cannot send the header that would allow it."""
    rules = [rule for rule in inputs.get("rules") or [] if isinstance(rule, Mapping) and rule.get("status") != "Disabled"]
    actions = {"expiration": "Expiration", "nonCurrentVersionExpiration": "NoncurrentVersionExpiration"}
    problems = []
    for index, first in enumerate(rules):
        for second in rules[index + 1 :]:
            a, b = str(first.get("prefix") or ""), str(second.get("prefix") or "")
            if not (a.startswith(b) or b.startswith(a)):
                continue
            shared = [name for key, name in actions.items() if first.get(key) and second.get(key)]
            if shared:
                problems.append(
                    (
                        "rules",
                        f"rules {first.get('id')!r} and {second.get('id')!r} have overlapping prefixes "
                        f"({a!r}, {b!r}) and both do {', '.join(shared)}",
                    )
                )
    return problems


def _allowlist_entries(value: Any) -> str | None:
    try:
        network = ipaddress.ip_network(str(value), strict=False)
    except ValueError:
        return f"{value!r} is not an IP address or CIDR"
    if network.prefixlen == 0 and str(value) != "0.0.0.0/0":
        return f"{value}: a /0 other than 0.0.0.0/0 is refused"
    return None


_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _weekdays(value: Any) -> str | None:
    days = [day for day in str(value).split(",") if day]
    unknown = [day for day in days if day not in _WEEKDAYS]
    return f"{unknown} are not weekday names" if unknown else None


def _backup_days(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    full, incremental = inputs.get("fullBackupPeriod"), inputs.get("dataIncrBackupPeriods")
    problems = []
    if not _get(inputs, "dataIncrBackupPeriods"):
        problems.append(
            (
                "dataIncrBackupPeriods",
                "unset: the provider then sends '' on update, which turns incremental backups off",
            )
        )
    elif _known(full) and _known(incremental):
        overlap = set(str(full).split(",")) & set(str(incremental).split(","))
        if overlap:
            problems.append(("dataIncrBackupPeriods", f"{sorted(overlap)} are also full-backup days"))
        if len([day for day in str(incremental).split(",") if day]) > 6:
            problems.append(("dataIncrBackupPeriods", "at most 6 days"))
    return problems


def _policy_document(value: Any) -> str | None:
    try:
        document = json.loads(str(value))
    except json.JSONDecodeError as error:
        return f"not JSON ({error})"
    if len(str(value)) > 6144:
        return f"{len(str(value))} characters, over the 6144 quota"
    if not isinstance(document, dict) or not isinstance(document.get("Statement"), list):
        return "no Statement list"
    return None


def _hhmm(value: Any) -> str | None:
    return None if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", str(value)) else f"{value!r} is not HH:MM"


def _one_region(value: Any) -> str | None:
    return None if isinstance(value, list) and len(value) == 1 else f"{value!r}: a static rule takes exactly one region"


def _object_key(value: Any) -> str | None:
    key = str(value)
    if not 1 <= len(key.encode()) <= 1024 or key.startswith("\\") or re.search(r"[\a\b\t\n\v\f\r]", key):
        return f"{key!r} is not a valid object key (1-1024 bytes, not starting with \\, no control characters)"
    return None


def _md5(value: Any) -> str | None:
    return None if re.fullmatch(r"[0-9a-f]{32}", str(value)) else f"{value!r} is not a hex MD5"


def _three_levels(inputs: Mapping[str, Any]) -> list[tuple[str, str]]:
    levels = sorted(str(level.get("level")) for level in inputs.get("levels") or [])
    return [] if levels == list(VMP_LEVELS) else [("levels", f"{levels}: exactly one each of {', '.join(VMP_LEVELS)}")]


def _vmp_username(value: Any) -> str | None:
    return None if re.fullmatch(r"[A-Za-z0-9_]+", str(value)) else f"{value!r}: letters, digits and '_' only"


def _vmp_name(value: Any) -> str | None:
    # CreateContact: letters, CJK, digits, '-' or '_', not starting with a digit or a sign.
    text = str(value)
    if not re.fullmatch(rf"[A-Za-z{_CJK}][A-Za-z0-9{_CJK}_-]*", text) or len(text) >= 128:
        return f"{text!r}: start with a letter; then letters, digits, '-' or '_'; under 128 characters"
    return None


def _vmp_rules() -> list[Rule]:
    vmp = f"{TF}vmp/"
    rule_src = f"{vmp}vmp_alerting_rule/resource_volcengine_vmp_alerting_rule.go"
    return [
        Rule(VMP_WORKSPACE, "name", "1-100 characters", "https://www.volcengine.com/docs/6731/1037488", _each("name", lambda value: None if 1 <= len(str(value)) <= 100 else f"{len(str(value))} characters; 1-100")),
        one_of(VMP_WORKSPACE, "instanceTypeId", VMP_WORKSPACE_TYPES, f"{CC}Volcengine_VMP_Workspace.json"),
        Rule(VMP_WORKSPACE, "username", "letters, digits and _", "https://www.volcengine.com/docs/6731/1037488", _each("username", _vmp_username)),
        Rule(VMP_CONTACT, "name", "letters first, then letters, digits, - and _", "https://www.volcengine.com/docs/6731/1037565", _each("name", _vmp_name)),
        required(VMP_CONTACT_GROUP, "name", f"{vmp}vmp_contact_group/resource_volcengine_vmp_contact_group.go"),
        one_of(VMP_NOTIFY, "levels[].level", VMP_LEVELS, f"{vmp}vmp_notify_policy/resource_volcengine_vmp_notify_policy.go:63-70"),
        custom(VMP_GROUPING, "levels", "exactly P0, P1 and P2 (MinItems = MaxItems = 3)", f"{vmp}vmp_notify_group_policy/resource_volcengine_vmp_notify_group_policy.go:52-66", _three_levels),
        one_of(VMP_GROUPING, "levels[].groupBies[]", ("__rule__",), f"{vmp}vmp_notify_group_policy/resource_volcengine_vmp_notify_group_policy.go:68-76"),
        required(VMP_RULE, "notifyGroupPolicyId", rule_src),
        required(VMP_RULE, "query.promQl", rule_src),
        one_of(VMP_RULE, "levels[].level", VMP_LEVELS, f"{rule_src}:88-94"),
        one_of(VMP_RULE, "levels[].for", VMP_FOR, f"{rule_src}:96-102"),
        one_of(VMP_RULE, "levels[].comparator", VMP_COMPARATORS, f"{rule_src}:104-110"),
    ]


def _rules() -> list[Rule]:
    sg_rule_src = f"{TF}vpc/security_group_rule/resource_volcengine_security_group_rule.go"
    ecs_src = f"{TF}ecs/ecs_instance/resource_volcengine_ecs_instance.go"
    clb_src = f"{TF}clb/clb/resource_volcengine_clb.go"
    nat_src = f"{TF}nat/nat_gateway/resource_volcengine_nat_gateway.go"
    snat_src = f"{TF}nat/snat_entry/resource_volcengine_snat_entry.go"
    listener_src = f"{TF}clb/listener/resource_volcengine_listener.go"
    group_src = f"{TF}autoscaling/scaling_group/resource_volcengine_scaling_group.go"
    config_src = f"{TF}autoscaling/scaling_configuration/resource_volcengine_scaling_configuration.go"
    policy_src = f"{TF}autoscaling/scaling_policy/resource_volcengine_scaling_policy.go"
    cm_rule_src = f"{TF}cloud_monitor/cloud_monitor_rule/resource_volcengine_cloud_monitor_rule.go"
    disk_types = ("ESSD_PL0", "ESSD_PL1", "ESSD_PL2", "ESSD_FlexPL", "PTSSD")
    return [
        # VPC
        required(VPC, "cidrBlock", f"{TF}vpc/vpc/resource_volcengine_vpc.go:37-43"),
        Rule(VPC, "cidrBlock", "private range /8~24, /12~24 or /16~24", "https://docs.byteplus.com/en/docs/vpc/CreateVpc", _each("cidrBlock", _private_vpc_cidr)),
        text(VPC, "vpcName", "VPC name"),
        text(VPC, "description", "VPC description"),
        required(SUBNET, "vpcId", f"{TF}vpc/subnet/resource_volcengine_subnet.go:60-65"),
        required(SUBNET, "zoneId", f"{TF}vpc/subnet/resource_volcengine_subnet.go:66-71"),
        text(SUBNET, "subnetName", "VPC name"),
        text(SUBNET, "description", "VPC description"),
        required(SECURITY_GROUP, "vpcId", f"{TF}vpc/security_group/resource_volcengine_security_group.go:36-41"),
        text(SECURITY_GROUP, "securityGroupName", "VPC name"),
        text(SECURITY_GROUP, "description", "VPC description"),
        one_of(SECURITY_GROUP_RULE, "direction", ("ingress", "egress"), f"{sg_rule_src}:39-48"),
        one_of(SECURITY_GROUP_RULE, "protocol", ("tcp", "udp", "icmp", "all", "icmpv6"), f"{sg_rule_src}:49-61"),
        one_of(SECURITY_GROUP_RULE, "policy", ("accept", "drop"), f"{sg_rule_src}:94-104"),
        int_range(SECURITY_GROUP_RULE, "priority", 1, 100, f"{sg_rule_src}:105-112"),
        at_least_one_of(SECURITY_GROUP_RULE, ("cidrIp", "sourceGroupId"), f"{sg_rule_src}:80-93; service:58-61", exactly=True),
        custom(SECURITY_GROUP_RULE, "portStart|portEnd", "tcp/udp 1-65535; icmp/all -1", f"{TF}vpc/security_group_rule/service_volcengine_security_group_rule.go:62-66", _ports),
        text(SECURITY_GROUP_RULE, "description", "security group rule description"),
        # ECS
        required(ECS_INSTANCE, "instanceName", "https://docs.byteplus.com/en/docs/ecs/RunInstances", "required by RunInstances (the provider treats it as optional)"),
        text(ECS_INSTANCE, "instanceName", "ECS instance name"),
        text(ECS_INSTANCE, "hostName", "host name"),
        text(ECS_INSTANCE, "description", "ECS description"),
        one_of(ECS_INSTANCE, "instanceChargeType", ("PostPaid", "PrePaid"), f"{ecs_src}:100-109"),
        one_of(ECS_INSTANCE, "systemVolumeType", disk_types, f"{ecs_src}:299-304"),
        custom(ECS_INSTANCE, "systemVolumeSize", "ESSD 20-2048 GiB, PTSSD 10-500", f"{ecs_src}:306-311", _system_volume),
        Rule(ECS_INSTANCE, "securityGroupIds", "1-5 groups", f"{ecs_src}:221-231", _each("securityGroupIds", lambda value: None if 1 <= len(value) <= 5 else f"{len(value)} groups; 1-5 allowed")),
        Rule(ECS_INSTANCE, "userData", "Base64, at most 16 KB decoded", f"{CC}Volcengine_ECS_Instance.json:813", _each("userData", _user_data(USER_DATA_LIMIT_BYTES))),
        # EIP
        one_of(EIP, "billingType", ("PrePaid", "PostPaidByBandwidth", "PostPaidByTraffic"), f"{TF}eip/eip_address/resource_volcengine_eip_address.go:37-42"),
        custom(EIP, "bandwidth", "PostPaidByTraffic: 1-200 Mbps", "https://www.volcengine.com/docs/6402/71039", _traffic_bandwidth("billingType", "bandwidth")),
        text(EIP, "name", "VPC name"),
        one_of(EIP_ASSOCIATE, "instanceType", ("Nat", "NetworkInterface", "ClbInstance", "EcsInstance", "HaVip"), f"{TF}eip/eip_associate/resource_volcengine_eip_associate.go:46-57"),
        # NAT gateway (the fleet's way out)
        required(NAT_GATEWAY, "vpcId", f"{nat_src}:37-42"),
        required(NAT_GATEWAY, "subnetId", f"{nat_src}:43-48"),
        one_of(NAT_GATEWAY, "networkType", ("internet", "intranet"), f"{nat_src}:49-55"),
        one_of(NAT_GATEWAY, "spec", ("Small", "Medium", "Large", "Extra_Large_1", "Extra_Large_2"), f"{CC_DOCS}natgateway_ngw.md:50"),
        one_of(NAT_GATEWAY, "billingType", ("PostPaid", "PrePaid", "PostPaidByUsage"), f"{nat_src}:73-80"),
        text(NAT_GATEWAY, "natGatewayName", "NAT gateway name"),
        text(NAT_GATEWAY, "description", "NAT gateway description"),
        required(SNAT_ENTRY, "natGatewayId", f"{snat_src}:39-44"),
        at_least_one_of(SNAT_ENTRY, ("subnetId", "sourceCidr"), f"{snat_src}:45-52, 86-93 (ExactlyOneOf)", exactly=True),
        required(SNAT_ENTRY, "eipId", f"{snat_src}:53-68", why="required on an internet NAT gateway"),
        # CLB
        one_of(CLB, "type", ("public", "private"), f"{clb_src}:58-64"),
        one_of(CLB, "loadBalancerSpec", ("small_1", "small_2", "medium_1", "medium_2", "large_1", "large_2"), f"{clb_src}:128-138"),
        one_of(CLB, "loadBalancerBillingType", ("PostPaid", "PrePaid", "PostPaidByLCU"), f"{clb_src}:139-145"),
        one_of(CLB, "eipBillingConfig.eipBillingType", ("PrePaid", "PostPaidByBandwidth", "PostPaidByTraffic"), f"{clb_src}:182-241"),
        custom(CLB, "eipBillingConfig.bandwidth", "PostPaidByTraffic: 1-200 Mbps", "https://www.volcengine.com/docs/6402/71039", _nested("eipBillingConfig", _traffic_bandwidth("eipBillingType", "bandwidth"))),
        custom(CLB, "masterZoneId|slaveZoneId", "standby zone needs a different master zone", "https://www.volcengine.com/docs/6406/71769", _clb_zones),
        text(CLB, "loadBalancerName", "CLB name"),
        text(CLB, "description", "VPC description"),
        one_of(LISTENER, "protocol", ("TCP", "UDP", "HTTP", "HTTPS"), f"{CC}Volcengine_CLB_Listener.json (Protocol)"),
        int_range(LISTENER, "port", 0, 65535, f"{listener_src}:60-79"),
        one_of(LISTENER, "scheduler", ("wrr", "wlc", "sh"), f"{CC}Volcengine_CLB_Listener.json:433"),
        one_of(LISTENER, "connectionDrainEnabled", ("on", "off"), f"{listener_src}:302-311"),
        int_range(LISTENER, "connectionDrainTimeout", 0, 900, f"{listener_src}:312-321"),
        custom(LISTENER, "connectionDrainTimeout", "required when draining is on", f"{TF}clb/listener/service_volcengine_listener.go:290-296", _drain),
        int_range(LISTENER, "healthCheck.interval", 1, 300, f"{CC}Volcengine_CLB_Listener.json:34-120"),
        int_range(LISTENER, "healthCheck.timeout", 1, 60, f"{CC}Volcengine_CLB_Listener.json:34-120"),
        int_range(LISTENER, "healthCheck.healthyThreshold", 2, 10, f"{CC}Volcengine_CLB_Listener.json:34-120"),
        int_range(LISTENER, "healthCheck.unHealthyThreshold", 2, 10, f"{CC}Volcengine_CLB_Listener.json:34-120"),
        text(LISTENER, "listenerName", "CLB name"),
        text(LISTENER, "description", "VPC description"),
        one_of(SERVER_GROUP, "type", ("instance", "ip"), f"{TF}clb/server_group/resource_volcengine_server_group.go:62-69"),
        text(SERVER_GROUP, "serverGroupName", "CLB name"),
        text(SERVER_GROUP, "description", "VPC description"),
        # Auto Scaling
        text(SCALING_GROUP, "scalingGroupName", "Auto Scaling name"),
        int_range(SCALING_GROUP, "minInstanceNumber", 0, 100, "https://docs.byteplus.com/api/docs/as/CreateScalingGroup (default quota)"),
        int_range(SCALING_GROUP, "maxInstanceNumber", 0, 100, "https://docs.byteplus.com/api/docs/as/CreateScalingGroup (default quota)"),
        custom(SCALING_GROUP, "desireInstanceNumber", "min <= desired <= max", f"{CC}Volcengine_AutoScaling_ScalingGroup.json (DesireInstanceNumber)", _scaling_sizes),
        int_range(SCALING_GROUP, "defaultCooldown", 5, 86400, f"{group_src}:40-46"),
        one_of(SCALING_GROUP, "instanceTerminatePolicy", ("OldestInstance", "NewestInstance", "OldestScalingConfigurationWithOldestInstance", "OldestScalingConfigurationWithNewestInstance"), f"{group_src}:78-89"),
        one_of(SCALING_GROUP, "multiAzPolicy", ("PRIORITY", "BALANCE"), f"{group_src}:122-131"),
        custom(SCALING_GROUP, "multiAzPolicy", "required with several subnets", f"{CC}Volcengine_AutoScaling_ScalingGroup.json (MultiAZPolicy)", _multi_az),
        int_range(SCALING_GROUP, "serverGroupAttributes[].port", 1, 65535, f"{group_src}:96-101"),
        int_range(SCALING_GROUP, "serverGroupAttributes[].weight", 0, 100, f"{group_src}:107-112"),
        text(SCALING_CONFIGURATION, "scalingConfigurationName", "Auto Scaling name"),
        text(SCALING_CONFIGURATION, "instanceName", "ECS instance name"),
        text(SCALING_CONFIGURATION, "hostName", "host name"),
        at_least_one_of(SCALING_CONFIGURATION, ("password", "keyPairName"), f"{config_src}:71-83 (AtLeastOneOf)"),
        Rule(SCALING_CONFIGURATION, "instanceTypes", "1-10 types", f"{config_src}:47-55", _each("instanceTypes", lambda value: None if 1 <= len(value) <= 10 else f"{len(value)} types; 1-10 allowed")),
        Rule(SCALING_CONFIGURATION, "securityGroupIds", "1-5 groups", f"{config_src}:119-129", _each("securityGroupIds", lambda value: None if 1 <= len(value) <= 5 else f"{len(value)} groups; 1-5 allowed")),
        one_of(SCALING_CONFIGURATION, "volumes[].volumeType", SCALING_DISK_TYPES, f"{CC}Volcengine_AutoScaling_ScalingConfiguration.json (Volumes)"),
        custom(SCALING_CONFIGURATION, "volumes[0].size", "system disk 10-500 GiB", f"{CC}Volcengine_AutoScaling_ScalingConfiguration.json (Volumes)", _scaling_system_volume),
        Rule(SCALING_CONFIGURATION, "userData", "Base64 (sent as is), at most 16 KB decoded", f"{CC}Volcengine_AutoScaling_ScalingConfiguration.json:302", _each("userData", _user_data(USER_DATA_LIMIT_BYTES))),
        text(SCALING_POLICY, "scalingPolicyName", "Auto Scaling name"),
        one_of(SCALING_POLICY, "scalingPolicyType", ("Scheduled", "Recurrence", "Alarm"), f"{policy_src}:58-64"),
        one_of(SCALING_POLICY, "adjustmentType", tuple(_ADJUSTMENT_RANGES), f"{policy_src}:65-70"),
        custom(SCALING_POLICY, "adjustmentValue", "range by adjustment type", "https://docs.byteplus.com/en/docs/as/CreateScalingPolicy", _adjustment),
        int_range(SCALING_POLICY, "cooldown", 0, 86400, f"{policy_src}:78-84"),
        int_range(SCALING_POLICY, "alarmPolicyEvaluationCount", 1, 180, f"{policy_src}:131-137"),
        one_of(SCALING_POLICY, "alarmPolicyRuleType", ("Static",), f"{policy_src}:123-130"),
        one_of(
            SCALING_POLICY,
            "alarmPolicyConditionMetricName",
            tuple(f"{metric}_{stat}" for metric in ("CpuTotal", "MemoryUsedUtilization", "Instance_CpuBusy") for stat in ("Max", "Min", "Avg")),
            f"{policy_src}:138-154",
        ),
        one_of(SCALING_POLICY, "alarmPolicyConditionMetricUnit", ("Percent",), f"{policy_src}:155-161"),
        one_of(SCALING_POLICY, "alarmPolicyConditionComparisonOperator", (">", "<", "="), f"{policy_src}:162-168"),
        custom(SCALING_POLICY, "alarmPolicyConditionThreshold", "Percent: 1-100", f"{CC}Volcengine_AutoScaling_ScalingPolicy.json (Threshold)", _percent_threshold),
        # TOS
        text(BUCKET, "bucketName", "TOS bucket name"),
        one_of(BUCKET, "publicAcl", ("private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read"), f"{TF}tos/bucket/resource_volcengine_tos_bucket.go:53-65"),
        one_of(BUCKET, "azRedundancy", ("single-az", "multi-az"), f"{TF}tos/bucket/resource_volcengine_tos_bucket.go:77-83"),
        one_of(BUCKET, "storageClass", ("STANDARD", "IA", "INTELLIGENT_TIERING", "ARCHIVE_FR", "ARCHIVE", "COLD_ARCHIVE", "DEEP_COLD_ARCHIVE"), f"{TF}tos/bucket/resource_volcengine_tos_bucket.go:66-71"),
        one_of(BUCKET_ENCRYPTION, "rule.applyServerSideEncryptionByDefault.sseAlgorithm", ("kms", "AES256", "SM4"), f"{TF}tos/bucket_encryption/resource_volcengine_tos_bucket_encryption.go:56-60"),
        required(BUCKET_LIFECYCLE, "rules", f"{TF}tos/bucket_lifecycle/resource_volcengine_tos_bucket_lifecycle.go:42-46"),
        one_of(BUCKET_LIFECYCLE, "rules[].status", ("Enabled", "Disabled"), f"{TF}tos/bucket_lifecycle/resource_volcengine_tos_bucket_lifecycle.go:59-63"),
        custom(BUCKET_LIFECYCLE, "rules", "no overlapping prefixes with the same action", "https://www.volcengine.com/docs/6349/1160440; https://www.volcengine.com/docs/6349/1189111", _lifecycle_overlap),
        at_least_one_of(BUCKET_OBJECT, ("filePath", "content"), f"{TF}tos/object/resource_volcengine_tos_object.go:66-72 (ExactlyOneOf)", exactly=True),
        Rule(BUCKET_OBJECT, "objectName", "1-1024 bytes, no control characters", "ve-tos-golang-sdk@c103fba2 tos/check.go:42-47", _each("objectName", _object_key)),
        one_of(BUCKET_OBJECT, "encryption", ("AES256",), f"{TF}tos/object/resource_volcengine_tos_object.go:78-86"),
        one_of(BUCKET_OBJECT, "publicAcl", ("private", "public-read", "public-read-write", "authenticated-read", "bucket-owner-read", "default"), f"{TF}tos/object/resource_volcengine_tos_object.go:94-107"),
        Rule(BUCKET_OBJECT, "contentMd5", "hex MD5 (the only change trigger for file uploads)", f"{TF}tos/object/service_volcengine_tos_object.go:727-738", _each("contentMd5", _md5)),
        # RDS for PostgreSQL
        one_of(PG_INSTANCE, "dbEngineVersion", tuple(f"PostgreSQL_{version}" for version in range(11, 18)), f"{TF}rds_postgresql/rds_postgresql_instance/resource_volcengine_rds_postgresql_instance.go:39-44"),
        Rule(PG_INSTANCE, "storageSpace", "20-3000 GiB in steps of 10", f"{TF}rds_postgresql/rds_postgresql_instance/resource_volcengine_rds_postgresql_instance.go:61-66", _each("storageSpace", lambda value: None if 20 <= int(value) <= 3000 and int(value) % 10 == 0 else f"{value} is not 20-3000 in steps of 10")),
        one_of(PG_INSTANCE, "chargeInfo.chargeType", ("PostPaid", "PrePaid"), f"{TF}rds_postgresql/rds_postgresql_instance/resource_volcengine_rds_postgresql_instance.go:132-175"),
        text(PG_INSTANCE, "instanceName", "RDS PostgreSQL instance name"),
        text(PG_ALLOWLIST, "allowListName", "RDS PostgreSQL allow list name"),
        text(PG_ALLOWLIST, "allowListDesc", "RDS PostgreSQL allow list description"),
        one_of(PG_ALLOWLIST, "allowListType", ("IPv4",), f"{TF}rds_postgresql/rds_postgresql_allowlist/resource_volcengine_rds_postgresql_allowlist.go:60-67"),
        Rule(PG_ALLOWLIST, "allowLists", "1-300 entries", f"{TF}rds_postgresql/rds_postgresql_allowlist/resource_volcengine_rds_postgresql_allowlist.go:68-80", _each("allowLists", lambda value: None if 1 <= len(value) <= 300 else f"{len(value)} entries; 1-300 allowed")),
        Rule(PG_ALLOWLIST, "allowLists[]", "IP or CIDR; no x.x.x.x/0 but 0.0.0.0/0", "terraform-provider-volcenginecc@fe912e86 docs/resources/rdspostgresql_allow_list.md", _each("allowLists[]", _allowlist_entries)),
        text(PG_ACCOUNT, "accountName", "RDS PostgreSQL identifier"),
        Rule(PG_ACCOUNT, "accountName", "not a reserved word", "https://docs.byteplus.com/en/docs/RDS_for_PG/createdbaccount", _each("accountName", lambda value: f"{value!r} is a PostgreSQL reserved word" if str(value).lower() in _PG_RESERVED else None)),
        one_of(PG_ACCOUNT, "accountType", ("Super", "Normal", "InstanceReadOnly"), f"{TF}rds_postgresql/rds_postgresql_account/resource_volcengine_rds_postgresql_account.go:70-76"),
        text(PG_DATABASE, "dbName", "RDS PostgreSQL identifier"),
        Rule(PG_DATABASE, "dbName", "not a reserved word", "terraform-provider-volcenginecc@fe912e86 docs/resources/rdspostgresql_database.md", _each("dbName", lambda value: f"{value!r} is a PostgreSQL reserved word" if str(value).lower() in _PG_RESERVED else None)),
        one_of(PG_DATABASE, "characterSetName", ("utf8", "latin1", "ascii"), f"{TF}rds_postgresql/rds_postgresql_database/resource_volcengine_rds_postgresql_database.go:61-67"),
        custom(
            PG_BACKUP_POLICY,
            "",
            "cannot be created through pulumi-volcengine 0.0.47",
            f"{TF}rds_postgresql/rds_postgresql_backup_policy/service_volcengine_rds_postgresql_backup_policy.go:108-111",
            lambda inputs: [
                (
                    "",
                    "the provider's create sends no request and then reads the policy with an empty "
                    "instance id, so the first `pulumi up` fails; RDS keeps its default policy (7 days)",
                )
            ],
        ),
        int_range(PG_BACKUP_POLICY, "backupRetentionPeriod", 7, 365, "https://docs.byteplus.com/en/docs/RDS_for_PG/modifybackuppolicy"),
        Rule(PG_BACKUP_POLICY, "fullBackupTime", "HH:mmZ-HH:mmZ (UTC)", "https://docs.byteplus.com/en/docs/RDS_for_PG/modifybackuppolicy", _each("fullBackupTime", lambda value: None if re.fullmatch(r"([01]\d|2[0-3]):[0-5]\dZ-([01]\d|2[0-3]):[0-5]\dZ", str(value)) else f"{value!r} is not HH:mmZ-HH:mmZ")),
        Rule(PG_BACKUP_POLICY, "fullBackupPeriod", "weekday names", "https://docs.byteplus.com/en/docs/RDS_for_PG/modifybackuppolicy", _each("fullBackupPeriod", _weekdays)),
        Rule(PG_BACKUP_POLICY, "dataIncrBackupPeriods", "weekday names", "https://docs.byteplus.com/en/docs/RDS_for_PG/modifybackuppolicy", _each("dataIncrBackupPeriods", _weekdays)),
        custom(PG_BACKUP_POLICY, "dataIncrBackupPeriods", "set explicitly; not a full-backup day; at most 6", f"{TF}rds_postgresql/rds_postgresql_backup_policy/service_volcengine_rds_postgresql_backup_policy.go:145-175", _backup_days),
        # CloudMonitor
        text(CM_CONTACT, "name", "CloudMonitor contact name"),
        required(CM_CONTACT, "email", f"{TF}cloud_monitor/cloud_monitor_contact/resource_volcengine_cloud_monitor_contact.go:41-45"),
        text(CM_CONTACT_GROUP, "name", "CloudMonitor contact name"),
        text(CM_CONTACT_GROUP, "description", "CloudMonitor contact group description"),
        text(CM_RULE, "ruleName", "CloudMonitor rule name"),
        text(CM_RULE, "description", "CloudMonitor rule description"),
        one_of(CM_RULE, "level", ("critical", "warning", "notice"), f"{cm_rule_src}:68-73"),
        one_of(CM_RULE, "enableState", ("enable", "disable"), f"{cm_rule_src}:74-79"),
        one_of(CM_RULE, "evaluationCount", (1, 3, 5, 10, 15, 30, 60, 120), "terraform-provider-volcenginecc@fe912e86 docs/resources/cloudmonitor_rule.md"),
        one_of(CM_RULE, "silenceTime", (5, 30, 60, 180, 360, 720, 1440), f"{cm_rule_src}:95-99 (and the API's list)"),
        Rule(CM_RULE, "alertMethods[]", "Email, Phone, SMS, Webhook", f"{cm_rule_src}:112-120", _each("alertMethods[]", lambda value: None if value in ("Email", "Phone", "SMS", "Webhook") else f"{value!r} is not an alert method")),
        at_least_one_of(CM_RULE, ("webHook", "contactGroupIds", "webhookIds"), f"{cm_rule_src}:122-177 (AtLeastOneOf)"),
        Rule(CM_RULE, "contactGroupIds", "at most 5 groups", "terraform-provider-volcenginecc@fe912e86 docs/resources/cloudmonitor_rule.md", _each("contactGroupIds", lambda value: None if len(value) <= 5 else f"{len(value)} groups; at most 5")),
        Rule(CM_RULE, "regions", "exactly one region for a static rule", "terraform-provider-volcenginecc@fe912e86 docs/resources/cloudmonitor_rule.md", _each("regions", _one_region)),
        Rule(CM_RULE, "effectStartAt", "HH:MM", f"{cm_rule_src}:85-94", _each("effectStartAt", _hhmm)),
        Rule(CM_RULE, "effectEndAt", "HH:MM", f"{cm_rule_src}:85-94", _each("effectEndAt", _hhmm)),
        one_of(CM_RULE, "conditions[].statistics", ("avg", "max", "min"), f"{cm_rule_src}:205-243"),
        one_of(CM_RULE, "conditions[].comparisonOperator", (">", ">=", "<", "<=", "!=", "="), f"{cm_rule_src}:205-243"),
        Rule(CM_RULE, "conditions[].threshold", "a number >= 0", "terraform-provider-volcenginecc@fe912e86 docs/resources/cloudmonitor_rule.md", _each("conditions[].threshold", lambda value: None if re.fullmatch(r"\d+(\.\d{1,3})?", str(value)) else f"{value!r} is not a number >= 0 with at most 3 decimals")),
        text(CM_EVENT_RULE, "ruleName", "CloudMonitor rule name"),
        required(CM_EVENT_RULE, "eventTypes", "terraform-provider-volcenginecc@fe912e86 docs/resources/cloudmonitor_event_rule.md", "required by CreateEventRule"),
        one_of(CM_EVENT_RULE, "level", ("notice", "warning", "critical"), f"{TF}cloud_monitor/cloud_monitor_event_rule/resource_volcengine_cloud_monitor_event_rule.go:65-69"),
        Rule(CM_EVENT_RULE, "contactMethods[]", "Phone, Email, SMS, Webhook, TLS, MQ", f"{TF}cloud_monitor/cloud_monitor_event_rule/resource_volcengine_cloud_monitor_event_rule.go:113-120", _each("contactMethods[]", lambda value: None if value in ("Phone", "Email", "SMS", "Webhook", "TLS", "MQ") else f"{value!r} is not a contact method")),
        Rule(CM_EVENT_RULE, "effectiveTime.startTime", "HH:MM", f"{TF}cloud_monitor/cloud_monitor_event_rule/resource_volcengine_cloud_monitor_event_rule.go:93-112", _each("effectiveTime.startTime", _hhmm)),
        Rule(CM_EVENT_RULE, "effectiveTime.endTime", "HH:MM", f"{TF}cloud_monitor/cloud_monitor_event_rule/resource_volcengine_cloud_monitor_event_rule.go:93-112", _each("effectiveTime.endTime", _hhmm)),
        # Managed Prometheus (VMP)
        *_vmp_rules(),
        # IAM
        text(IAM_USER, "userName", "IAM user name"),
        text(IAM_USER, "description", "IAM user description"),
        text(IAM_POLICY, "policyName", "IAM policy name"),
        text(IAM_POLICY, "description", "IAM policy description"),
        Rule(IAM_POLICY, "policyDocument", "JSON with a Statement list, at most 6144 characters", "https://www.volcengine.com/docs/6257/1285191", _each("policyDocument", _policy_document)),
        one_of(IAM_ATTACHMENT, "policyType", ("System", "Custom"), f"{TF}iam/iam_user_policy_attachment/resource_volcengine_iam_user_policy_attachment.go:47-53"),
        one_of(IAM_ACCESS_KEY, "status", ("active", "inactive"), f"{TF}iam/iam_access_key/resource_volcengine_iam_access_key.go:38-44"),
    ]


RULES: tuple[Rule, ...] = tuple(_rules())


# TOS's S3-compatible endpoints take virtual-hosted requests only (the bucket in the host
# name), never path-style: https://docs.byteplus.com/en/docs/tos/docs-compatibility-with-amazon-s3
TOS_S3_SOURCE = "https://docs.byteplus.com/en/docs/tos/docs-compatibility-with-amazon-s3"
_TOS_S3_HOST = re.compile(r"^(?:(?P<bucket>[a-z0-9][a-z0-9-]{1,61}[a-z0-9])\.)?tos-s3-[a-z0-9-]+\.i?volces\.com$")


def tos_s3_request_problem(url: str, bucket: str) -> str | None:
    """Why TOS would refuse a request for `bucket` sent to `url`, or None."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    match = _TOS_S3_HOST.match(parts.hostname or "")
    if match is None:
        return None  # not a TOS S3 endpoint
    if match.group("bucket") != bucket:
        return f"{url}: a path-style request; TOS's S3 endpoint takes virtual-hosted ones ({bucket}.<endpoint>) [{TOS_S3_SOURCE}]"
    return None


def is_rds_pg_identifier(value: str) -> bool:
    """An RDS for PostgreSQL account or database name the API accepts."""
    return TEXT_RULES["RDS PostgreSQL identifier"].problem(value) is None and value.lower() not in _PG_RESERVED


def rules_for(resource_type: str) -> list[Rule]:
    return [rule for rule in RULES if rule.resource == resource_type]


def check_inputs(resource_type: str, name: str, inputs: Mapping[str, Any]) -> list[Violation]:
    """Every rule of `resource_type` applied to one resource's inputs."""
    violations = []
    for rule in rules_for(resource_type):
        for path, problem in rule.check(inputs):
            violations.append(Violation(resource_type, name, path, problem, rule.source))
    return violations


def check_resources(resources: Iterable[tuple[str, str, Mapping[str, Any]]]) -> list[Violation]:
    """(type, name, inputs) of many resources -> everything the cloud would refuse."""
    violations: list[Violation] = []
    for resource_type, name, inputs in resources:
        violations += check_inputs(resource_type, name, inputs)
    return violations
