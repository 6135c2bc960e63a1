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
import json
import re
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
    AcmeCertificates,
    AppHostSpec,
    AppSpec,
    ObjectStorageSpec,
    SelfSignedCertificates,
)
from fastapi_deploy.stack_model.ingress import check_admin_cidr, parse_cidr
from fastapi_deploy.stack_model.instance_types import UnknownInstanceType, instance_size

__all__ = [
    "PROJECT",
    "ConfigProblem",
    "StackConfig",
    "StackConfigError",
    "config_keys_markdown",
    "database_url",
    "is_database_identifier",
    "load_stack_config",
    "project_config_declarations",
    "pulumi_project_file",
]

PROJECT = "fastapi-deploy"

Platform = Literal["volcengine", "docker"]
CertificateKind = Literal["acme", "self-signed"]

_REGION = re.compile(r"^[a-z]{2}-[a-z0-9-]+$")
_ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_DB_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
_RESERVED_DB_NAMES = frozenset({"postgres", "root", "admin"})


def is_database_identifier(value: str) -> bool:
    """A database or account name RDS accepts and that is not a reserved one."""
    return bool(_DB_IDENTIFIER.match(value)) and value not in _RESERVED_DB_NAMES
# Alarm silence periods CloudMonitor accepts, in minutes.
_SILENCE_MINUTES = (5, 30, 60, 180, 360, 720, 1440)
# Scale-in below this far under scale-out would flap: removing one of two hosts doubles the
# load on the other, so thresholds closer than this undo each other.
MIN_CPU_THRESHOLD_GAP_PERCENT = 20
# A placeholder for validating the host spec before the database exists.
_PLACEHOLDER_DATABASE_URL = "postgresql://app:placeholder@db.invalid:5432/app"


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
        "Where TLS certificates come from: 'acme' (Let's Encrypt via Certbot on each host) or "
        "'self-signed' (dev and tests). Default acme. A fleet behind the load balancer cannot "
        "finish ACME HTTP-01 yet (see docs/cloud-layer.md).",
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
        "Days database backups are kept. Default 7, the least RDS allows.",
        fix="set a whole number of days between 7 and 365",
        ge=7,
        le=365,
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
    backups_prefix: str = _setting(
        "backups/",
        "Object key prefix in the bucket whose objects expire after backupsExpireDays. Default backups/.",
        fix="use a prefix such as 'backups/' (no leading slash, ending in '/')",
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
    app_requirement: str = _setting(
        AppSpec.model_fields["requirement"].default,
        "pip requirement of the app. Default: the sample app. Changing it replaces hosts.",
        fix="use a requirement such as 'my-api==1.2.3'",
    )
    app_asgi_path: str = _setting(
        AppSpec.model_fields["asgi_path"].default,
        "'module:attribute' of the ASGI app. Default: the sample app.",
        fix="use 'package.module:app'",
    )
    app_package_index_url: str = _setting(
        AppSpec.model_fields["package_index_url"].default,
        "Package index the hosts install the app from. Default PyPI.",
        fix="use an http(s):// PEP 503 index URL",
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
                "a-z, 0-9 and _, starting with a letter, not postgres/root/admin"
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

    @field_validator("app_env")
    @classmethod
    def _app_env(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not _ENV_LINE.match(entry):
                raise ValueError(f"entry {entry!r} is not NAME=value")
        return value

    # --- checks across keys --------------------------------------------------------------

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
        # Fail now, with the host layer's own validators, rather than inside an apply later.
        self.capacity()
        self._validated_host_spec()
        return self

    # --- derived values ----------------------------------------------------------------------

    @property
    def zone_ids(self) -> tuple[str, ...]:
        return self.zones or (f"{self.region}-a", f"{self.region}-b")

    @property
    def fleet_tls_unfinished(self) -> bool:
        """ACME behind a load balancer: validation requests land on random hosts."""
        return self.fleet_enabled and self.certificates == "acme"

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

    def host_spec(self, database_url: str, object_storage: ObjectStorageSpec | None = None) -> AppHostSpec:
        """The app-host spec every host (cloud or docker) is rendered from. Errors name the
        config key they come from, with the host layer's own messages."""
        certificates: AcmeCertificates | SelfSignedCertificates
        if self.certificates == "acme":
            acme: dict[str, Any] = {"contact_email": self.acme_email}
            if self.acme_directory_url:
                acme["directory_url"] = self.acme_directory_url
            certificates = _build(AcmeCertificates, _ACME_KEYS, **acme)
        else:
            certificates = SelfSignedCertificates()
        app = _build(
            AppSpec,
            _APP_KEYS,
            requirement=self.app_requirement,
            asgi_path=self.app_asgi_path,
            package_index_url=self.app_package_index_url,
            env=dict(entry.split("=", 1) for entry in self.app_env),
            secret_env=self.secret_env(),
        )
        return _build(
            AppHostSpec,
            _HOST_KEYS,
            app_name=self.app_name,
            domains=(self.domain,),
            certificates=certificates,
            app=app,
            capacity=self.capacity(),
            database_url=SecretStr(database_url),
            object_storage=object_storage,
            admin_ssh_keys=self.admin_ssh_keys,
        )

    def _validated_host_spec(self) -> AppHostSpec:
        return self.host_spec(_PLACEHOLDER_DATABASE_URL)


# Where a host-layer model's error points, in config keys ("" is a whole-model check).
_ACME_KEYS = {"contact_email": "acmeEmail", "directory_url": "acmeDirectoryUrl", "": "acmeEmail"}
_APP_KEYS = {
    "requirement": "appRequirement",
    "asgi_path": "appAsgiPath",
    "package_index_url": "appPackageIndexUrl",
    "env": "appEnv",
    "secret_env": "appSecretEnv",
    "": "appEnv",
}
_HOST_KEYS = {
    "domains": "domain",
    "app_name": "appName",
    "admin_user": "appName",
    "admin_ssh_keys": "adminSshKeys",
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


def _shown(key: str, raw: Mapping[str, Any], secret_keys: set[str]) -> str:
    if key in secret_keys or key == "appSecretEnv":
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
