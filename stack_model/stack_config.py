"""The stack configuration: every `fastapi-deploy:*` key, validated once, before any resource.

Pure (no Pulumi). `__main__.py` reads the raw strings from `pulumi.Config` and hands them to
`load_stack_config`, which returns a `StackConfig` or raises `StackConfigError` whose text
names, for each problem, the key, the value received and the fix:

    fastapi-deploy:fleetMinSize = '5': fleetMinSize must not exceed fleetDesiredSize (2); ...

Optional keys have plain defaults (0, "" or []) rather than null: the Pulumi CLI insists that
every key declared in Pulumi.yaml either has a default there or is set by the stack, and YAML
defaults cannot be null. `project_config_declarations()` generates that Pulumi.yaml section
from this model, so the two cannot drift (a test compares them).
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
import shlex
import typing
from collections.abc import Mapping
from typing import Any, Literal
from urllib.parse import quote

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from fastapi_deploy.stack_model.capacity import Capacity
from fastapi_deploy.stack_model.host_spec import (
    HEALTH_GATE_PORT,
    AcmeCertificates,
    AppHostSpec,
    AppSpec,
    ArtifactRef,
    JournalUploadSpec,
    LocalStoreSpec,
    MetricsShippingSpec,
    ObjectStorageSpec,
    SelfSignedCertificates,
    StoreSpec,
    is_dump_schedule,
)
from fastapi_deploy.stack_model.ingress import check_admin_cidr, parse_cidr
from fastapi_deploy.stack_model.instance_types import UnknownInstanceType, instance_size
from fastapi_deploy.stack_model.volcengine_rules import (
    SCALING_DISK_TYPES,
    SCALING_SYSTEM_DISK_GIB,
    is_rds_pg_identifier,
)

__all__ = [
    "NO_MIGRATIONS",
    "PROJECT",
    "SAMPLE_APP",
    "SAMPLE_APP_PACKAGE",
    "ConfigProblem",
    "StackConfig",
    "StackConfigError",
    "config_keys_markdown",
    "database_url",
    "is_database_identifier",
    "is_placeholder_domain",
    "is_placeholder_network",
    "load_stack_config",
    "project_config_declarations",
    "pulumi_project_file",
]

PROJECT = "fastapi-deploy"

Platform = Literal["volcengine", "docker"]
CertificateKind = Literal["acme", "self-signed"]
# The suffixes of the VMP workspace types (volcengine_rules.VMP_WORKSPACE_TYPES).
MetricsRetention = Literal["15d", "30d", "90d", "180d", "1y"]

_REGION = re.compile(r"^[a-z]{2}-[a-z0-9-]+$")
_ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
# <scheme>://<public key>[:<secret>]@<host>[:<port>]/[<path>/]<project id>, as the SDKs parse it.
_SENTRY_DSN = re.compile(r"^https?://[A-Za-z0-9]+(:[A-Za-z0-9]+)?@[A-Za-z0-9.-]+(:\d{1,5})?(/[A-Za-z0-9._-]+)*/\d+/?$")
# The PostgreSQL client Debian 12 ships (postgresql-client-15): the newest server it can dump.
HOST_PG_DUMP_MAJOR = 15
# What the app's error reports are told, from the stack (sentry_sdk reads these names).
SENTRY_VARIABLES = ("SENTRY_DSN", "SENTRY_RELEASE", "SENTRY_ENVIRONMENT")
_DB_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
# Names the database server itself uses.
_RESERVED_DB_NAMES = frozenset({"postgres", "root", "admin", "template0", "template1"})


def is_database_identifier(value: str) -> bool:
    """A database or account name RDS accepts (volcengine_rules), in lower case and
    underscores only so it needs no quoting in SQL, and not one the server uses itself."""
    return (
        bool(_DB_IDENTIFIER.match(value))
        and is_rds_pg_identifier(value)
        and value not in _RESERVED_DB_NAMES
    )
# Alarm silence periods CloudMonitor accepts, in minutes.
_SILENCE_MINUTES = (5, 30, 60, 180, 360, 720, 1440)
# Scale-in below this far under scale-out would flap: removing one of two hosts doubles the
# load on the other, so thresholds closer than this undo each other.
MIN_CPU_THRESHOLD_GAP_PERCENT = 20
# Stand-ins for validating the host spec before the database, the bucket and the app's
# archive exist (they are only known inside `pulumi up`).
_PLACEHOLDER_DATABASE_URL = "postgresql://app:placeholder@db.invalid:5432/app"
_PLACEHOLDER_STORE = LocalStoreSpec()
_PLACEHOLDER_PACKAGE = ArtifactRef(name="app-src.tar.gz", sha256="0" * 64)

# The sample app (app/ in this repository) and what deploying it takes; a user's own app
# must say these itself (a sample default would silently not fit it).
SAMPLE_APP_PACKAGE = "app"
SAMPLE_APP: dict[str, str] = {
    "asgi_path": "notes_api.main:app",
    "migration_command": "notes-api-migrate",
    "readiness_path": "/readyz",
    "liveness_path": "/healthz",
}
NO_MIGRATIONS = "none"
PYPI_SIMPLE = "https://pypi.org/simple/"

# Values from documentation, not from a real deployment: RFC 2606/6761 names and RFC
# 5737/3849 address ranges. A cloud stack refuses them, naming the key to set.
_EXAMPLE_DOMAINS = ("example.com", "example.net", "example.org")
_RESERVED_TLDS = ("test", "example", "invalid", "localhost")
_DOCUMENTATION_NETWORKS = tuple(
    ipaddress.ip_network(cidr) for cidr in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


def is_placeholder_domain(name: str) -> bool:
    """A documentation or reserved name (example.com, *.test, ...) that no one can deploy to."""
    name = name.lower().rstrip(".")
    return name.rsplit(".", 1)[-1] in _RESERVED_TLDS or any(
        name == domain or name.endswith(f".{domain}") for domain in _EXAMPLE_DOMAINS
    )


def is_placeholder_network(cidr: str) -> bool:
    network = ipaddress.ip_network(cidr, strict=False)
    return any(
        network.version == doc.version and network.subnet_of(doc)  # type: ignore[arg-type]
        for doc in _DOCUMENTATION_NETWORKS
    )


class ConfigProblem(ValueError):
    """One bad value: which key, and what to do about it. Raised inside validators so the
    loader can name the key even for checks that span several keys."""

    def __init__(self, key: str, problem: str, fix: str) -> None:
        super().__init__(f"{problem}; {fix}")
        self.key = key
        self.problem = problem
        self.fix = fix


class StackConfigError(Exception):
    """The stack configuration is invalid; the message lists every problem, one per line."""


def _setting(default: Any, description: str, *, fix: str = "", secret: bool = False, **limits: Any) -> Any:
    extra: dict[str, Any] = {}
    if fix:
        extra["fix"] = fix
    if secret:
        extra["secret"] = True
    return Field(default, description=description, json_schema_extra=extra or None, **limits)


class StackConfig(BaseModel):
    """All keys of one stack. Every default is a behaviour, stated in its description."""

    model_config = ConfigDict(frozen=True, extra="forbid", alias_generator=to_camel, populate_by_name=True)

    platform: Platform = _setting(
        "volcengine",
        "Where the stack runs: 'volcengine' (cloud: VPC, load balancer, fleet, RDS, TOS) or "
        "'docker' (local dev containers built from the same host spec). Default volcengine.",
        fix="use 'volcengine' or 'docker'",
    )
    region: str = _setting(
        "cn-beijing",
        "Volcengine region for every resource, such as 'cn-beijing'. Default cn-beijing. "
        "Unused by the docker platform.",
        fix="use a Volcengine region id such as 'cn-beijing' or 'cn-shanghai'",
    )
    zones: tuple[str, ...] = _setting(
        (),
        "Availability zones for the subnets, at least two. Default []: '<region>-a' and '<region>-b'.",
        fix="list two or more zone ids of the region, such as ['cn-beijing-a', 'cn-beijing-b']",
    )
    vpc_cidr: str = _setting(
        "10.20.0.0/16",
        "Private address range of the VPC; each zone gets a /24 from it. Default 10.20.0.0/16.",
        fix="use a private /16 to /22 such as '10.20.0.0/16'",
    )
    domain: str = Field(
        description="DNS name the app is served on, such as 'api.example.com'. Required: it "
        "is the certificate's name and the only Host Nginx answers."
    )
    certificates: CertificateKind = _setting(
        "acme",
        "Where TLS certificates come from: 'acme' (Let's Encrypt; one host at a time orders "
        "under a database lock and the certificate is shared through the bucket, so a fleet "
        "makes one order) or 'self-signed' (dev and tests). Default acme.",
        fix="use 'acme' or 'self-signed'",
    )
    acme_email: str = _setting(
        "",
        "Email the ACME CA sends expiry notices to. Default '': required when certificates is acme.",
        fix="set the address that should receive certificate notices, such as 'ops@example.com'",
    )
    acme_directory_url: str = _setting(
        "",
        "ACME directory URL. Default '': Let's Encrypt production. Use the staging directory "
        "while testing to stay clear of rate limits.",
        fix="use an https:// ACME directory URL",
    )
    admin_cidrs: tuple[str, ...] = _setting(
        (),
        "Networks allowed to reach SSH (22), such as ['203.0.113.0/24']. Default []: no SSH "
        "from anywhere. 0.0.0.0/0, ::/0 and other world-wide ranges are refused.",
        fix="list your admins' networks as CIDRs, or [] for no SSH",
    )
    admin_ssh_keys: tuple[str, ...] = _setting(
        (),
        "OpenSSH public keys of the 'ops' admin user. Default []: no admin login.",
        fix="paste the one line of each id_*.pub file",
    )
    instance_type: str = _setting(
        "ecs.g3il.large",
        "ECS instance type of the app hosts. Default ecs.g3il.large (2 vCPU, 8 GiB). Types "
        "outside the built-in table need instanceVcpus and instanceMemoryMib.",
        fix="use a type such as 'ecs.g3il.large', or set instanceVcpus and instanceMemoryMib",
    )
    instance_vcpus: int = _setting(
        0,
        "vCPUs of instanceType when it is not in the built-in table. Default 0: from the table.",
        fix="set the type's vCPU count, with instanceMemoryMib",
        ge=0,
        le=512,
    )
    instance_memory_mib: int = _setting(
        0,
        "Memory of instanceType in MiB when it is not in the built-in table. Default 0: from the table.",
        fix="set the type's memory in MiB, with instanceVcpus",
        ge=0,
    )
    worker_memory_mib: int = _setting(
        256,
        "Memory one gunicorn worker needs at peak, in MiB. Default 256.",
        fix="set a whole number of MiB, at least 32",
        ge=32,
    )
    workers: int = _setting(
        0,
        "gunicorn workers per host. Default 0: computed from vCPUs and memory; an explicit "
        "count that does not fit in memory is refused.",
        fix="set 0 to compute it, or a count that fits the instance",
        ge=0,
    )
    image_os_name: str = _setting(
        "Debian",
        "Operating system of the public image the hosts boot, as Volcengine names the "
        "platform. Default Debian.",
        fix="use the platform name of a public image, such as 'Debian'",
        min_length=1,
    )
    image_os_version: str = _setting(
        "12",
        "Version of that operating system. Default 12 (bookworm): the host layer is built and tested on it.",
        fix="use a version such as '12'",
        min_length=1,
    )
    image_id: str = _setting(
        "",
        "Image the hosts boot instead of the public one, such as a Debian 12 image of your own "
        "with the host packages pre-installed (hosts start faster). Default '': the newest "
        "public imageOsName/imageOsVersion image with cloud-init.",
        fix="use an image id such as 'image-ybqi99s7yq8rx7mnk44b'",
        pattern=r"^$|^image-[a-z0-9]+$",
    )
    system_disk_gib: int = _setting(
        40,
        "System disk size of each host in GiB. Default 40.",
        fix="set a whole number of GiB between 20 and 2048",
        ge=20,
        le=2048,
    )
    system_disk_type: str = _setting(
        "ESSD_PL0",
        "System disk type. Default ESSD_PL0.",
        fix="use ESSD_PL0, ESSD_PL1, ESSD_PL2, ESSD_FlexPL or PTSSD",
        pattern=r"^(ESSD_PL0|ESSD_PL1|ESSD_PL2|ESSD_FlexPL|PTSSD)$",
    )
    public_bandwidth_mbps: int = _setting(
        10,
        "Peak bandwidth of the public address (the load balancer's, or the single host's), "
        "in Mbit/s. Default 10.",
        fix="set a whole number between 1 and 200",
        ge=1,
        le=200,
    )
    egress_bandwidth_mbps: int = _setting(
        10,
        "Peak bandwidth of the fleet's NAT gateway, the only way out for hosts without a "
        "public address (packages, the ACME CA, the app's own calls), in Mbit/s. Default 10. "
        "Fleet only.",
        fix="set a whole number between 1 and 200",
        ge=1,
        le=200,
    )
    fleet_enabled: bool = _setting(
        False,
        "Run an autoscaling fleet behind a load balancer. Default false: one host with its "
        "own public address (single-host mode).",
        fix="use true or false",
    )
    fleet_min_size: int = _setting(
        2, "Fewest hosts in the fleet. Default 2, one per zone.", fix="set 0-100", ge=0, le=100
    )
    fleet_desired_size: int = _setting(
        2,
        "Hosts the fleet starts with. Default 2. Must lie between fleetMinSize and fleetMaxSize.",
        fix="set 0-100",
        ge=0,
        le=100,
    )
    fleet_max_size: int = _setting(4, "Most hosts in the fleet. Default 4.", fix="set 1-100", ge=1, le=100)
    fleet_roll_batch_size: int = _setting(
        1,
        "After a change only new hosts get (user data, image, instance type, disks), `pulumi "
        "up` replaces the fleet's hosts this many at a time: it adds a batch, waits until it is "
        "healthy on every load balancer listener, then removes as many of the oldest. Default 1.",
        fix="set a whole number from 1 to 20 (Auto Scaling removes at most 20 hosts per call)",
        ge=1,
        le=20,
    )
    fleet_roll_health_minutes: int = _setting(
        15,
        "How long a new batch of the fleet roll has to boot and turn healthy before `pulumi up` "
        "removes it again and fails naming its hosts (the old hosts keep serving). Default 15; "
        "0: no roll, replace hosts by hand (scale out, then in). The roll drives Auto Scaling "
        "with the deployer's key (VOLCENGINE_ACCESS_KEY / VOLCENGINE_SECRET_KEY, or "
        "volcengine:accessKey / volcengine:secretKey).",
        fix="set a number of minutes from 0 to 120",
        ge=0,
        le=120,
    )
    cpu_scale_out_percent: int = _setting(
        70,
        "Average CPU above which the fleet adds a host. Default 70.",
        fix="set a percentage between 2 and 100",
        ge=2,
        le=100,
    )
    cpu_scale_in_percent: int = _setting(
        30,
        "Average CPU below which the fleet removes a host. Default 30. Must stay at least "
        f"{MIN_CPU_THRESHOLD_GAP_PERCENT} points under cpuScaleOutPercent, or the fleet flaps.",
        fix="set a percentage between 1 and 99",
        ge=1,
        le=99,
    )
    cpu_evaluation_periods: int = _setting(
        3,
        "Consecutive one-minute periods a CPU threshold must hold before scaling. Default 3.",
        fix="set 1-10",
        ge=1,
        le=10,
    )
    scale_out_cooldown_seconds: int = _setting(
        300,
        "Pause after adding a host before the next scaling step. Default 300: a new host "
        "needs a few minutes to install and start.",
        fix="set 60-86400 seconds",
        ge=60,
        le=86400,
    )
    scale_in_cooldown_seconds: int = _setting(
        600,
        "Pause after removing a host before the next scaling step. Default 600.",
        fix="set 60-86400 seconds",
        ge=60,
        le=86400,
    )
    load_balancer_spec: str = _setting(
        "small_1",
        "CLB specification. Default small_1.",
        fix="use small_1, small_2, medium_1, medium_2, large_1 or large_2",
        pattern=r"^(small|medium|large)_[12]$",
    )
    load_balancer_health_check: Literal["gate", "tcp-443"] = _setting(
        "gate",
        "What the CLB checks on each host: 'gate', the port a host opens only while its app "
        "answers; or 'tcp-443', a handshake with Nginx, which passes even with the app dead. "
        "Default gate. 'tcp-443' is for the move of a fleet whose hosts booted before the gate "
        "existed: set it, pulumi up, replace the hosts (scale out, then in), then set gate.",
        fix="use gate or tcp-443",
    )
    database_class: str = _setting(
        "rds.postgres.1c2g",
        "RDS for PostgreSQL node specification. Default rds.postgres.1c2g.",
        fix="use a node spec such as 'rds.postgres.2c4g'",
        pattern=r"^rds\.postgres\.[a-z0-9.]+$",
    )
    database_storage_gib: int = _setting(
        20,
        "Database storage in GiB, a multiple of 10. Default 20.",
        fix="set a multiple of 10 between 20 and 3000",
        ge=20,
        le=3000,
    )
    database_backup_retention_days: int = _setting(
        7,
        "Days RDS keeps its automated backups. Default 7, RDS's own default; the only value "
        "this stack can apply, because pulumi-volcengine 0.0.47 cannot create a backup policy "
        "(its create sends no request). Change it in the RDS console if you need longer.",
        fix="remove the key (or set 7) and change retention in the RDS console",
    )
    database_engine_version: str = _setting(
        "PostgreSQL_15",
        "PostgreSQL major version. Default PostgreSQL_15, as on the Debian 12 hosts.",
        fix="use PostgreSQL_12 ... PostgreSQL_17",
        pattern=r"^PostgreSQL_1[1-7]$",
    )
    database_name: str = _setting(
        "app", "Name of the app's database. Default app.", fix="use 2-63 of a-z, 0-9 and _"
    )
    database_user: str = _setting(
        "app",
        "Database account the app connects as (its password is generated). Default app.",
        fix="use 2-63 of a-z, 0-9 and _",
    )
    database_deletion_protection: bool = _setting(
        True,
        "Protect the database instance: Pulumi refuses to delete or replace it until this "
        "is turned off and applied. Default true.",
        fix="use true or false",
    )
    alarm_contact_name: str = _setting(
        "ops", "Name of the alarm contact. Default ops.", fix="use a short name", min_length=1
    )
    alarm_contact_email: str = _setting(
        "",
        "Email that receives alarms. Default '': required on the volcengine platform.",
        fix="set the address that should receive alarms, such as 'ops@example.com'",
    )
    alarm_contact_phone: str = _setting(
        "",
        "Phone that also receives alarms by SMS. Default '': email only.",
        fix="use international format such as '+8613800000000', or ''",
    )
    cpu_alarm_percent: int = _setting(
        85, "Host CPU that raises an alarm. Default 85.", fix="set 1-100", ge=1, le=100
    )
    database_cpu_alarm_percent: int = _setting(
        80, "Database CPU that raises an alarm. Default 80.", fix="set 1-100", ge=1, le=100
    )
    database_storage_alarm_percent: int = _setting(
        80,
        "Database storage use that raises an alarm. Default 80.",
        fix="set 1-100",
        ge=1,
        le=100,
    )
    alarm_silence_minutes: int = _setting(
        30,
        "Minutes an alarm stays quiet after notifying. Default 30.",
        fix=f"use one of {', '.join(map(str, _SILENCE_MINUTES))}",
    )
    host_metrics: bool = _setting(
        True,
        "Ship each host's numbers (requests, 5xx, latency, disk, backups) to a Volcengine "
        "Managed Prometheus workspace and alert alarmContactEmail on them. Default true "
        "(cloud stacks; the dev stack keeps them on the host).",
        fix="use true or false",
    )
    metrics_retention: MetricsRetention = _setting(
        "15d",
        "How long the metrics workspace keeps samples: 15d, 30d, 90d, 180d or 1y (its VMP "
        "instance type; a change replaces the workspace and loses its samples). Default 15d.",
        fix="use one of 15d, 30d, 90d, 180d, 1y",
    )
    error_alarm_percent: float = _setting(
        5,
        "Share of requests answered 5xx (over 5 minutes, at 0.1 requests/s or more) that "
        "raises an alarm. Default 5.",
        fix="set a percentage above 0, at most 100",
        gt=0,
        le=100,
    )
    latency_alarm_p99_seconds: float = _setting(
        1.0,
        "p99 request time in seconds (over 5 minutes, at 0.1 requests/s or more) that raises "
        "an alarm. Default 1.0.",
        fix="set seconds above 0, at most 60",
        gt=0,
        le=60,
    )
    disk_free_alarm_percent: int = _setting(
        10,
        "Free space on a host's root disk under which it raises an alarm. Default 10.",
        fix="set 1-90",
        ge=1,
        le=90,
    )
    backup_max_age_hours: int = _setting(
        26,
        "Age of the newest database dump that raises an alarm (with backupSchedule on). "
        "Default 26: a daily dump, its random delay and its run.",
        fix="set a whole number of hours, 1 or more, longer than backupSchedule's interval",
        ge=1,
        le=24 * 366,
    )
    log_collector: bool = _setting(
        True,
        "Ship every fleet host's journal (from its first boot) to a collector host in the VPC "
        "(Debian's systemd-journal-upload to systemd-journal-remote, HTTPS with the stack's "
        "own CA). Default true; fleets only (a single host keeps its journal).",
        fix="use true or false",
    )
    log_collector_instance_type: str = _setting(
        "ecs.g3il.large",
        "ECS instance type of the log collector. Default ecs.g3il.large.",
        fix="use an ECS instance type such as 'ecs.g3il.large'",
    )
    log_collector_disk_gib: int = _setting(
        100,
        "System disk of the log collector, which holds the journals (70% of it at most). "
        "Default 100.",
        fix="set 40-2048",
        ge=40,
        le=2048,
    )
    log_keep_days: int = _setting(
        30,
        "Days the collector keeps the hosts' journals. Default 30.",
        fix="set a whole number of days from 1 to 3650",
        ge=1,
        le=3650,
    )
    backups_prefix: str = _setting(
        "backups/",
        "Object key prefix in the bucket whose objects expire after backupsExpireDays. Default backups/.",
        fix="use a prefix such as 'backups/' (no leading slash, ending in '/')",
    )
    backup_schedule: str = _setting(
        "daily",
        "When one host of the fleet dumps the app's database (pg_dump -Fc) into the bucket under "
        "backupsPrefix: a systemd calendar expression such as 'daily' or '*-*-* 03:00:00', or "
        "'off'. Kept backupsExpireDays. Default daily (cloud stacks; the dev stack takes none).",
        fix="use a systemd calendar expression such as 'daily' or '*-*-* 03:00:00', or 'off'",
    )
    release_batch_size: int = _setting(
        1,
        "Hosts of the fleet that switch to a new app version at once (the others keep serving "
        "the old one meanwhile). Default 1.",
        fix="set a whole number from 1 to 100",
        ge=1,
        le=100,
    )
    release_ready_timeout_seconds: int = _setting(
        300,
        "How long a host gives a new app version's migrations, and then its readiness, before "
        "it abandons the version for the whole fleet and keeps the old one serving (the "
        "install is bounded on its own). Default 300.",
        fix="set a number of seconds from 10 to 3600",
        ge=10,
        le=3600,
    )
    release_attempt: int = _setting(
        1,
        "Raise it to try the same app version again after the hosts abandoned it (a failed "
        "install, migration or readiness on one host stops the version for the whole fleet, "
        "and they never retry it by themselves). Default 1.",
        fix="set a whole number, 1 or more, higher than the last attempt",
        ge=1,
    )
    release_watch_minutes: int = _setting(
        20,
        "After a new app version, `pulumi up` waits this long for every host to serve it and "
        "fails naming the hosts that do not (it reads their reports from the bucket's public "
        "endpoint). Default 20; 0: do not wait.",
        fix="set a number of minutes from 0 to 120",
        ge=0,
        le=120,
    )
    backups_expire_days: int = _setting(
        30,
        "Days after which objects under backupsPrefix are deleted. Default 30.",
        fix="set a whole number of days, 1 or more",
        ge=1,
        le=36500,
    )
    healthz_gate: bool = _setting(
        False,
        "After deploying, wait for https://<domain>/healthz through the new address and fail "
        "the update if it never answers. Default false: DNS must point at the address first.",
        fix="use true or false",
    )
    healthz_gate_attempts: int = _setting(
        30, "Probes the healthz gate makes. Default 30.", fix="set 1-360", ge=1, le=360
    )
    healthz_gate_interval_seconds: int = _setting(
        10, "Seconds between probes. Default 10.", fix="set 1-300", ge=1, le=300
    )
    app_name: str = _setting(
        "api",
        "Slug naming the service user, units and paths on the host. Default api.",
        fix="use 3-32 lower case letters, digits and hyphens, such as 'api'",
    )
    app_package: str = _setting(
        SAMPLE_APP_PACKAGE,
        "Your app, shipped by the stack: the path (relative to this project) of its project "
        "directory (packed as a source archive that pip builds on the host) or of a built "
        "wheel. The hosts install exactly that file, checked by its SHA-256. Default 'app': the "
        "sample notes-api in this repository. '' to install appRequirement instead.",
        fix="give the path of your app's project directory or of a .whl file, or '' with appRequirement",
    )
    app_requirement: str = _setting(
        "",
        "Your app as an exact pin from your own index, such as 'my-api==1.2.3', instead of "
        "appPackage; needs appPackageIndexUrl. Default '': appPackage is used.",
        fix="use an exact pin such as 'my-api==1.2.3', and set appPackageIndexUrl",
    )
    app_package_index_url: str = _setting(
        "",
        "PEP 503 index the hosts install the app's dependencies from (and appRequirement), "
        "such as a private devpi. Default '': PyPI for dependencies; appRequirement needs an "
        "index you name here.",
        fix="use an http(s):// PEP 503 index URL such as 'https://pypi.example.internal/simple/'",
    )
    app_asgi_path: str = _setting(
        "",
        "'module:attribute' of your ASGI app, such as 'my_api.main:app'. Default '': the "
        f"sample app's ({SAMPLE_APP['asgi_path']}); required for your own app.",
        fix="use 'package.module:app'",
    )
    app_migration_command: str = _setting(
        "",
        "Command that migrates your database, run once per fleet before the app starts, such "
        "as 'alembic upgrade head' (a bare name is looked up in the app's virtualenv), or "
        "'none'. Default '': the sample app's (notes-api-migrate); required for your own app.",
        fix="use a command such as 'alembic upgrade head', or 'none'",
    )
    app_readiness_path: str = _setting(
        "",
        "Path that answers 200 once your app can serve (database reachable, schema current), "
        "such as '/readyz'; deploy checks wait for it. Default '': the sample app's "
        f"({SAMPLE_APP['readiness_path']}); required for your own app.",
        fix="use a path such as '/readyz' or '/health'",
    )
    app_liveness_path: str = _setting(
        "",
        "Path that answers whenever your app can serve at all, without touching the database, "
        "such as '/healthz'; the load balancer's health gate probes it every second. Default '': "
        f"the sample app's ({SAMPLE_APP['liveness_path']}); for your own app, its readiness path, "
        "which takes every host out of the load balancer when the database hangs: set this.",
        fix="use a path such as '/healthz' or '/livez'",
    )
    app_timeout_seconds: int = _setting(
        60,
        "Longest a request may take before gunicorn restarts the worker and Nginx answers 504, "
        "in seconds. Default 60.",
        fix="set 5-3600",
        ge=5,
        le=3600,
    )
    app_env: tuple[str, ...] = _setting(
        (),
        "Plain environment of the app, as NAME=value entries. Default [].",
        fix="write entries such as ['LOG_LEVEL=info']",
    )
    app_secret_env: SecretStr = _setting(
        SecretStr(""),
        "Secret environment of the app: one NAME=value per line, set with `pulumi config "
        "set --secret`. Default '': none.",
        fix="set it with `pulumi config set --secret appSecretEnv` as NAME=value lines",
        secret=True,
    )
    sentry_dsn: SecretStr = _setting(
        SecretStr(""),
        "Error reporting: the Sentry (or compatible) DSN the app reports unhandled errors to, "
        "set with `pulumi config set --secret`. The app gets SENTRY_DSN, SENTRY_RELEASE (the app's "
        "version) and SENTRY_ENVIRONMENT (the stack's name), which sentry_sdk.init() reads. "
        "Default '': no reporting.",
        fix="set it with `pulumi config set --secret sentryDsn https://<key>@<host>/<project id>`",
        secret=True,
    )
    dev_https_port: int = _setting(
        8443,
        "Docker platform: port on 127.0.0.1 that reaches the dev host's 443. Default 8443.",
        fix="set a free port 1024-65535",
        ge=1024,
        le=65535,
    )
    dev_http_port: int = _setting(
        8080,
        "Docker platform: port on 127.0.0.1 that reaches the dev host's 80. Default 8080.",
        fix="set a free port 1024-65535",
        ge=1024,
        le=65535,
    )

    # --- single-key checks -------------------------------------------------------------

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.match(value):
            raise ConfigProblem("region", "not a Volcengine region id", "use one such as 'cn-beijing'")
        return value

    @field_validator("vpc_cidr")
    @classmethod
    def _vpc(cls, value: str) -> str:
        try:
            network = parse_cidr(value, field="vpcCidr")
        except ValueError as error:
            raise ConfigProblem("vpcCidr", str(error), "use a private /16 such as '10.20.0.0/16'") from None
        if network.version != 4 or not network.is_private or not 16 <= network.prefixlen <= 22:
            raise ConfigProblem(
                "vpcCidr",
                "a VPC needs a private IPv4 range from /16 to /22",
                "use one inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16, such as '10.20.0.0/16'",
            )
        return network.with_prefixlen

    @field_validator("admin_cidrs")
    @classmethod
    def _admin_cidrs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        checked = []
        for cidr in value:
            try:
                checked.append(check_admin_cidr(cidr))
            except ValueError as error:
                problem, _, fix = str(error).partition("; ")
                raise ConfigProblem("adminCidrs", problem, fix or "list networks as CIDRs") from None
        if len(set(checked)) != len(checked):
            raise ConfigProblem("adminCidrs", "a network is listed twice", "list each network once")
        return tuple(checked)

    @field_validator("database_name", "database_user")
    @classmethod
    def _db_identifier(cls, value: str) -> str:
        if not is_database_identifier(value):
            raise ValueError(
                f"{value!r} is not a plain database identifier (or is reserved); use 2-63 of "
                "a-z, 0-9 and _, starting with a letter and ending with a letter or digit, not "
                "pg_..., not an SQL reserved word, not postgres/root/admin"
            )
        return value

    @field_validator("database_backup_retention_days")
    @classmethod
    def _retention(cls, value: int) -> int:
        if value != 7:
            raise ValueError(
                f"{value} days cannot be applied: pulumi-volcengine 0.0.47's backup policy "
                "resource sends no request on create (and its first read fails), so RDS keeps its "
                "default of 7 days"
            )
        return value

    @field_validator("alarm_silence_minutes")
    @classmethod
    def _silence(cls, value: int) -> int:
        if value not in _SILENCE_MINUTES:
            raise ValueError(f"CloudMonitor accepts only {', '.join(map(str, _SILENCE_MINUTES))} minutes")
        return value

    @field_validator("backups_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if not value or value.startswith("/") or not value.endswith("/") or "//" in value:
            raise ValueError("a backups prefix must be non-empty, not start with '/', end with '/'")
        return value

    @field_validator("backup_schedule")
    @classmethod
    def _backup_schedule(cls, value: str) -> str:
        if value != "off" and not is_dump_schedule(value):
            raise ConfigProblem(
                "backupSchedule",
                "not a schedule of at most one dump a day",
                "use 'daily', 'weekly', '*-*-* 03:00:00', 'Mon..Fri *-*-* 03:00', or 'off'",
            )
        return value

    @field_validator("sentry_dsn")
    @classmethod
    def _sentry_dsn(cls, value: SecretStr) -> SecretStr:
        dsn = value.get_secret_value()
        if dsn and not _SENTRY_DSN.match(dsn):
            # Never echo the DSN: its key lets anyone send events to the project.
            raise ConfigProblem(
                "sentryDsn",
                "not a DSN of the form <scheme>://<public key>@<host>/<project id>",
                "copy the DSN from the project's client keys page, such as "
                "https://<key>@o0.ingest.example.com/123",
            )
        return value

    @field_validator("app_env")
    @classmethod
    def _app_env(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not _ENV_LINE.match(entry):
                raise ValueError(f"entry {entry!r} is not NAME=value")
        return value

    # --- checks across keys --------------------------------------------------------------

    @model_validator(mode="after")
    def _dumps_need_a_client_as_new_as_the_server(self) -> StackConfig:
        # pg_dump refuses a server of a newer major version than its own ("aborting because
        # of server version mismatch"), and the hosts have Debian 12's, PostgreSQL 15.
        major = int(self.database_engine_version.removeprefix("PostgreSQL_"))
        if self.platform == "volcengine" and self.backup_schedule != "off" and major > HOST_PG_DUMP_MAJOR:
            raise ConfigProblem(
                "backupSchedule",
                f"the hosts' pg_dump ({HOST_PG_DUMP_MAJOR}) cannot dump a {self.database_engine_version} server",
                f"set databaseEngineVersion to PostgreSQL_{HOST_PG_DUMP_MAJOR} or older, or backupSchedule to off",
            )
        return self

    @model_validator(mode="after")
    def _consistent(self) -> StackConfig:
        if self.zones:
            if len(set(self.zones)) < 2:
                raise ConfigProblem("zones", "fewer than two distinct zones", "list at least two zones")
            if len(set(self.zones)) != len(self.zones):
                raise ConfigProblem("zones", "a zone is listed twice", "list each zone once")
            strangers = [zone for zone in self.zones if not zone.startswith(f"{self.region}-")]
            if strangers:
                raise ConfigProblem(
                    "zones",
                    f"{strangers} are not zones of region {self.region!r}",
                    f"use zones named '{self.region}-a', '{self.region}-b', ...",
                )
        room = 2 ** (24 - int(self.vpc_cidr.split("/")[1]))
        if len(self.zone_ids) > room:
            raise ConfigProblem(
                "vpcCidr",
                f"it holds {room} /24 subnets, fewer than the {len(self.zone_ids)} zones",
                "widen vpcCidr (such as a /16) or list fewer zones",
            )
        if self.platform == "volcengine" and not self.alarm_contact_email:
            raise ConfigProblem(
                "alarmContactEmail",
                "the volcengine platform sends alarms and needs somewhere to send them",
                "set the address that should receive alarms, such as 'ops@example.com'",
            )
        if self.certificates == "acme" and not self.acme_email:
            raise ConfigProblem(
                "acmeEmail",
                "certificates is 'acme', which needs an account email",
                "set acmeEmail, or use certificates 'self-signed' for a dev stack",
            )
        if self.platform == "docker" and self.certificates == "acme":
            raise ConfigProblem(
                "certificates",
                "the docker dev stack has no public DNS name, so ACME validation cannot reach it",
                "use 'self-signed' on the docker platform",
            )
        if not self.fleet_min_size <= self.fleet_desired_size <= self.fleet_max_size:
            raise ConfigProblem(
                "fleetDesiredSize",
                f"fleetMinSize ({self.fleet_min_size}) <= fleetDesiredSize "
                f"({self.fleet_desired_size}) <= fleetMaxSize ({self.fleet_max_size}) does not hold",
                "choose sizes with min <= desired <= max",
            )
        gap = self.cpu_scale_out_percent - self.cpu_scale_in_percent
        if gap < MIN_CPU_THRESHOLD_GAP_PERCENT:
            raise ConfigProblem(
                "cpuScaleInPercent",
                f"it is only {gap} points under cpuScaleOutPercent ({self.cpu_scale_out_percent}); "
                "the fleet would add a host, drop under the scale-in line and remove it again "
                "(it would flap)",
                f"keep at least {MIN_CPU_THRESHOLD_GAP_PERCENT} points between the thresholds, "
                f"such as {max(1, self.cpu_scale_out_percent - 40)}",
            )
        if self.database_storage_gib % 10:
            raise ConfigProblem(
                "databaseStorageGib", "RDS storage grows in steps of 10 GiB", "use a multiple of 10"
            )
        if self.dev_http_port == self.dev_https_port:
            raise ConfigProblem(
                "devHttpPort", "it equals devHttpsPort", "give the two dev ports different numbers"
            )
        if self.system_disk_type == "PTSSD" and self.system_disk_gib > 500:
            raise ConfigProblem(
                "systemDiskGib",
                "a PTSSD system disk takes 10-500 GiB (ESSD types go to 2048)",
                "set at most 500, or choose an ESSD systemDiskType",
            )
        if self.platform == "volcengine" and self.fleet_enabled:
            if self.system_disk_type not in SCALING_DISK_TYPES:
                raise ConfigProblem(
                    "systemDiskType",
                    "an autoscaling fleet's hosts are created by Auto Scaling, which takes "
                    f"{', '.join(SCALING_DISK_TYPES)} only",
                    f"use one of {', '.join(SCALING_DISK_TYPES)}",
                )
            if not SCALING_SYSTEM_DISK_GIB[0] <= self.system_disk_gib <= SCALING_SYSTEM_DISK_GIB[1]:
                raise ConfigProblem(
                    "systemDiskGib",
                    "Auto Scaling takes system disks of "
                    f"{SCALING_SYSTEM_DISK_GIB[0]}-{SCALING_SYSTEM_DISK_GIB[1]} GiB",
                    f"set at most {SCALING_SYSTEM_DISK_GIB[1]}",
                )
        self._check_app_source()
        # Fail now, with the host layer's own validators, rather than inside an apply later.
        self.capacity()
        self._validated_host_spec()
        if self.platform == "volcengine":
            self._refuse_placeholders()
        return self

    def _check_app_source(self) -> None:
        if bool(self.app_package) == bool(self.app_requirement):
            raise ConfigProblem(
                "appRequirement" if self.app_requirement else "appPackage",
                "the app needs exactly one source"
                + (": both appPackage and appRequirement are set" if self.app_package else ""),
                "set appPackage to your app's directory or wheel, or set appPackage to '' and "
                "appRequirement to an exact pin",
            )
        if self.app_requirement and not self.app_package_index_url:
            raise ConfigProblem(
                "appPackageIndexUrl",
                "appRequirement is installed by name, and an unnamed index would be PyPI, where "
                "anyone can publish that name",
                "name the index that holds your app, such as 'https://pypi.example.internal/simple/'",
            )
        if not self.is_sample_app:
            for key, value, fix in (
                ("appAsgiPath", self.app_asgi_path, "set it to your app's 'module:app', such as 'my_api.main:app'"),
                (
                    "appMigrationCommand",
                    self.app_migration_command,
                    "set it to the command that migrates your database, such as 'alembic upgrade "
                    "head', or to 'none'",
                ),
                (
                    "appReadinessPath",
                    self.app_readiness_path,
                    "set it to the path your app answers 200 on once it can serve, such as '/readyz'",
                ),
            ):
                if not value:
                    raise ConfigProblem(
                        key,
                        "your own app is deployed (appPackage or appRequirement is not the "
                        "sample's), and the sample app's default would not fit it",
                        fix,
                    )

    def _refuse_placeholders(self) -> None:
        what = "a documentation placeholder, not a name or network of yours"
        if is_placeholder_domain(self.domain):
            raise ConfigProblem(
                "domain", what, "set the DNS name your app is served on, such as 'api.yourcompany.com'"
            )
        for key, email in (("acmeEmail", self.acme_email), ("alarmContactEmail", self.alarm_contact_email)):
            if email and is_placeholder_domain(email.rpartition("@")[2]):
                raise ConfigProblem(key, what, "set an address at your own domain that someone reads")
        for cidr in self.admin_cidrs:
            if is_placeholder_network(cidr):
                raise ConfigProblem(
                    "adminCidrs",
                    f"{cidr} is {what} (RFC 5737/3849 ranges never route)",
                    "list the networks your admins connect from, or [] for no SSH",
                )

    # --- derived values ----------------------------------------------------------------------

    @property
    def readiness_path(self) -> str:
        """The app's readiness path (the sample's when the sample app is deployed)."""
        return self.app_readiness_path or SAMPLE_APP["readiness_path"]

    @property
    def is_sample_app(self) -> bool:
        """The stack deploys the sample app of this repository (its defaults apply)."""
        return self.app_package == SAMPLE_APP_PACKAGE and not self.app_requirement

    def app_spec(self, package: ArtifactRef | None, environment: str = "") -> AppSpec:
        """The app part of the host spec; `package` is the archive built from appPackage,
        `environment` the stack's name (what error reports say they come from)."""
        defaults = SAMPLE_APP if self.is_sample_app else {}
        migration = self.app_migration_command or defaults.get("migration_command", "")
        env = dict(entry.split("=", 1) for entry in self.app_env)
        secret_env = self.secret_env()
        if self.sentry_dsn.get_secret_value():
            taken = sorted(name for name in SENTRY_VARIABLES if name in env or name in secret_env)
            if taken:
                raise ConfigProblem(
                    "sentryDsn",
                    f"{', '.join(taken)} also set in appEnv or appSecretEnv",
                    "set error reporting in one place: sentryDsn, or the variables yourself",
                )
            secret_env["SENTRY_DSN"] = self.sentry_dsn
            # SENTRY_RELEASE comes with each release (app_host.release), not the user data.
            env["SENTRY_ENVIRONMENT"] = environment or "default"
        return _build(
            AppSpec,
            _APP_KEYS,
            package=package if self.app_package else None,
            requirement=self.app_requirement or None,
            asgi_path=self.app_asgi_path or defaults.get("asgi_path", ""),
            readiness_path=self.app_readiness_path or defaults.get("readiness_path", ""),
            liveness_path=self.app_liveness_path or defaults.get("liveness_path") or None,
            migration_command=None if migration == NO_MIGRATIONS else tuple(shlex.split(migration)),
            package_index_url=self.app_package_index_url or PYPI_SIMPLE,
            timeout_seconds=self.app_timeout_seconds,
            env=env,
            secret_env=secret_env,
        )

    @property
    def zone_ids(self) -> tuple[str, ...]:
        return self.zones or (f"{self.region}-a", f"{self.region}-b")

    def capacity(self) -> Capacity:
        try:
            size = instance_size(self.instance_type, self.instance_vcpus, self.instance_memory_mib)
        except UnknownInstanceType as error:
            problem, _, fix = str(error).partition("; ")
            raise ConfigProblem("instanceType", problem, fix) from None
        try:
            return Capacity(
                vcpus=size.vcpus,
                memory_mib=size.memory_mib,
                worker_memory_mib=self.worker_memory_mib,
                workers=self.workers or None,
            )
        except ValidationError as error:
            text = _first_message(error)
            problem, _, fix = text.partition("; ")
            raise ConfigProblem("workers" if self.workers else "workerMemoryMib", problem, fix) from None

    def secret_env(self) -> dict[str, SecretStr]:
        entries: dict[str, SecretStr] = {}
        for line in self.app_secret_env.get_secret_value().splitlines():
            if not line.strip():
                continue
            match = _ENV_LINE.match(line)
            if not match:
                # Never echo the line: it holds a secret.
                raise ConfigProblem(
                    "appSecretEnv", "a line is not NAME=value", "write one NAME=value per line"
                )
            entries[match.group(1)] = SecretStr(match.group(2))
        return entries

    def host_spec(
        self,
        database_url: str,
        *,
        store: StoreSpec,
        app_package: ArtifactRef | None,
        object_storage: ObjectStorageSpec | None = None,
        environment: str = "",
        metrics: MetricsShippingSpec | None = None,
        journal_upload: JournalUploadSpec | None = None,
    ) -> AppHostSpec:
        """The app-host spec every host (cloud or docker) is rendered from; `environment` is
        the stack's name. Errors name the config key they come from, with the host layer's
        own messages."""
        certificates: AcmeCertificates | SelfSignedCertificates
        if self.certificates == "acme":
            acme: dict[str, Any] = {"contact_email": self.acme_email}
            if self.acme_directory_url:
                acme["directory_url"] = self.acme_directory_url
            certificates = _build(AcmeCertificates, _ACME_KEYS, **acme)
        else:
            certificates = SelfSignedCertificates()
        return _build(
            AppHostSpec,
            _HOST_KEYS,
            app_name=self.app_name,
            domains=(self.domain,),
            certificates=certificates,
            app=self.app_spec(app_package, environment),
            store=store,
            capacity=self.capacity(),
            database_url=SecretStr(database_url),
            object_storage=object_storage,
            admin_ssh_keys=self.admin_ssh_keys,
            # On Docker, 443 is published as devHttpsPort: the redirect must name it.
            public_https_port=self.dev_https_port if self.platform == "docker" else 443,
            # Behind the CLB, its health check probes the gate, which follows the app.
            health_gate_port=HEALTH_GATE_PORT if self.platform == "volcengine" and self.fleet_enabled else None,
            backup_schedule=self.backup_schedule if self.platform == "volcengine" and self.backup_schedule != "off" else None,
            backup_prefix=self.backups_prefix,
            release_batch_size=self.release_batch_size,
            release_ready_timeout_seconds=self.release_ready_timeout_seconds,
            release_attempt=self.release_attempt,
            metrics=metrics,
            journal_upload=journal_upload,
        )

    def _validated_host_spec(self) -> AppHostSpec:
        return self.host_spec(
            _PLACEHOLDER_DATABASE_URL, store=_PLACEHOLDER_STORE, app_package=_PLACEHOLDER_PACKAGE
        )


# Where a host-layer model's error points, in config keys ("" is a whole-model check).
_ACME_KEYS = {"contact_email": "acmeEmail", "directory_url": "acmeDirectoryUrl", "": "acmeEmail"}
_APP_KEYS = {
    "package": "appPackage",
    "requirement": "appRequirement",
    "asgi_path": "appAsgiPath",
    "readiness_path": "appReadinessPath",
    "liveness_path": "appLivenessPath",
    "migration_command": "appMigrationCommand",
    "package_index_url": "appPackageIndexUrl",
    "timeout_seconds": "appTimeoutSeconds",
    "env": "appEnv",
    "secret_env": "appSecretEnv",
    "": "appEnv",
}
_HOST_KEYS = {
    "domains": "domain",
    "app_name": "appName",
    "admin_user": "appName",
    "admin_ssh_keys": "adminSshKeys",
    "public_https_port": "devHttpsPort",
    "backup_schedule": "backupSchedule",
    "backup_prefix": "backupsPrefix",
    "release_batch_size": "releaseBatchSize",
    "release_ready_timeout_seconds": "releaseReadyTimeoutSeconds",
    "release_attempt": "releaseAttempt",
    "metrics": "hostMetrics",
    "journal_upload": "logCollector",
    "database_url": "databaseUser",
    "": "appName",
}

_Model = typing.TypeVar("_Model", bound=BaseModel)


def _build(model: type[_Model], keys: Mapping[str, str], **values: Any) -> _Model:
    try:
        return model(**values)
    except ValidationError as error:
        detail = error.errors()[0]
        field = str(detail["loc"][0]) if detail["loc"] else ""
        problem, _, fix = _clean(detail["msg"]).partition("; ")
        raise ConfigProblem(
            keys.get(field, keys[""]), problem, fix or "see its description in Pulumi.yaml"
        ) from None


def database_url(user: str, password: str, host: str, port: int | str, database: str) -> str:
    """A libpq URL; the password is percent-encoded so any generated character is safe."""
    return f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{database}"


def _clean(message: str) -> str:
    return message.removeprefix("Value error, ").removeprefix("Assertion failed, ")


def _first_message(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return _clean(error.errors()[0]["msg"])
    return str(error)


def _fields_by_key() -> dict[str, tuple[str, FieldInfo]]:
    return {(field.alias or name): (name, field) for name, field in StackConfig.model_fields.items()}


def _is_sequence(annotation: Any) -> bool:
    return typing.get_origin(annotation) in (tuple, list)


# Keys whose values are never shown in an error, even when set without --secret.
_ALWAYS_SECRET_KEYS = frozenset({"appSecretEnv", "sentryDsn"})


def _shown(key: str, raw: Mapping[str, Any], secret_keys: set[str]) -> str:
    if key in secret_keys or key in _ALWAYS_SECRET_KEYS:
        return "[secret]"
    if key not in raw:
        return "(unset)"
    return repr(raw[key])


def _line(project: str, key: str, shown: str, problem: str, fix: str) -> str:
    return f"{project}:{key} = {shown}: {problem}; {fix}"


def load_stack_config(
    raw: Mapping[str, Any], project: str = PROJECT, secret_keys: set[str] | None = None
) -> StackConfig:
    """Validate the raw config strings (keys without the project prefix). Raises
    StackConfigError listing every problem as '<project>:<key> = <value>: <problem>; <fix>'."""
    secret_keys = secret_keys or set()
    fields = _fields_by_key()
    problems: list[str] = []
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            guess = difflib.get_close_matches(key, fields, n=1)
            fix = f"did you mean {guess[0]!r}?" if guess else "remove it; Pulumi.yaml lists every key"
            problems.append(_line(project, key, _shown(key, raw, secret_keys), "unknown key", fix))
            continue
        _, field = fields[key]
        if _is_sequence(field.annotation) and isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                problems.append(
                    _line(
                        project,
                        key,
                        _shown(key, raw, secret_keys),
                        "not a list",
                        'write a YAML list such as ["a", "b"]',
                    )
                )
                continue
        values[key] = value
    if problems:
        raise StackConfigError("\n".join(problems))
    try:
        return StackConfig.model_validate(values)
    except ValidationError as error:
        for detail in error.errors():
            context = detail.get("ctx") or {}
            cause = context.get("error")
            if isinstance(cause, ConfigProblem):
                key, problem, fix = cause.key, cause.problem, cause.fix
            else:
                key = str(detail["loc"][0]) if detail["loc"] else "domain"
                field_info = fields.get(key, (key, None))[1]
                extra = field_info.json_schema_extra if field_info is not None else None
                hint = extra.get("fix") if isinstance(extra, dict) else None
                if detail["type"] == "missing":
                    problem = "required and not set"
                    fix = f"set it with `pulumi config set {key} ...`"
                else:
                    problem, _, fix = _clean(detail["msg"]).partition("; ")
                    fix = fix or str(hint or "see its description in Pulumi.yaml")
            if key in secret_keys and key in raw:
                # A validator's own message may quote the value it refused.
                problem, fix = (text.replace(str(raw[key]), "[secret]") for text in (problem, fix))
            problems.append(_line(project, key, _shown(key, raw, secret_keys), problem, fix))
        raise StackConfigError("\n".join(problems)) from None


def project_config_declarations() -> dict[str, dict[str, Any]]:
    """The `config:` section of Pulumi.yaml, generated from the model (one source of truth)."""
    declarations: dict[str, dict[str, Any]] = {}
    for key, (_, field) in _fields_by_key().items():
        annotation = field.annotation
        entry: dict[str, Any] = {}
        if _is_sequence(annotation):
            entry["type"] = "array"
            entry["items"] = {"type": "string"}
        elif annotation is bool:
            entry["type"] = "boolean"
        elif annotation is int:
            entry["type"] = "integer"
        else:
            entry["type"] = "string"
        entry["description"] = field.description
        if not field.is_required():
            default = field.default
            if isinstance(default, SecretStr):
                default = default.get_secret_value()
            elif isinstance(default, tuple):
                default = list(default)
            entry["default"] = default
        declarations[key] = entry
    return declarations


PROJECT_DESCRIPTION = (
    "Deploys a FastAPI app to Volcengine (VPC, CLB, autoscaling fleet, RDS for PostgreSQL, "
    "TOS, CloudMonitor) or to local Docker containers built from the same host spec."
)


def pulumi_project_file() -> str:
    """The whole Pulumi.yaml: project settings plus the generated `config:` section."""
    import yaml  # the host layer's dependency already; imported here to keep import time low

    document = {
        "name": PROJECT,
        "runtime": {"name": "python", "options": {"toolchain": "pip", "virtualenv": ".venv"}},
        "description": PROJECT_DESCRIPTION,
        "config": project_config_declarations(),
    }
    header = (
        "# Generated from stack_model/stack_config.py (StackConfig); a test fails when the two\n"
        "# differ. Regenerate with: python -m fastapi_deploy.stack_model.stack_config > Pulumi.yaml\n"
    )
    return header + yaml.safe_dump(document, sort_keys=False, width=100, allow_unicode=True)


def config_keys_markdown() -> str:
    """The keys as the Markdown table in docs/cloud-layer.md (a test keeps them equal)."""
    lines = ["| Key | Type | Default | Meaning |", "| --- | --- | --- | --- |"]
    for key, declaration in project_config_declarations().items():
        default = json.dumps(declaration["default"]) if "default" in declaration else "required"
        meaning = declaration["description"].replace("|", "\\|")
        lines.append(f"| `{key}` | {declaration['type']} | `{default}` | {meaning} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    import sys

    print(config_keys_markdown() if sys.argv[1:] == ["--markdown"] else pulumi_project_file(), end="")
