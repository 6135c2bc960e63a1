"""Postgres: RDS for PostgreSQL reachable only from the app subnets."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_random as random
import pulumi_volcengine as volcengine
from pydantic import Field, field_validator

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token
from fastapi_deploy.stack_model.ingress import is_world, parse_cidr
from fastapi_deploy.stack_model.stack_config import database_url, is_database_identifier

__all__ = ["Postgres", "PostgresArgs", "private_endpoint"]

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
# The generated password uses only characters that need no quoting in a shell, a URL or
# an environment file, and meets RDS's "three of four character classes" rule.
_PASSWORD_SPECIALS = "-_"


class PostgresArgs(ComponentArgs):
    subnet_id: StrInput = Field(description="Subnet the instance's private endpoint lives in. Required.")
    primary_zone_id: str = Field(description="Zone of the primary node. Required.")
    secondary_zone_id: str = Field(
        description="Zone of the standby node; a different zone survives a zone outage. Required."
    )
    allowed_cidrs: tuple[str, ...] = Field(
        min_length=1,
        description="The only networks that may connect: the app subnets. Required. World-wide "
        "and public ranges are refused.",
    )
    node_spec: str = Field(
        default="rds.postgres.1c2g", description="Node specification. Default rds.postgres.1c2g."
    )
    storage_gib: int = Field(
        default=20, ge=20, le=3000, multiple_of=10, description="Storage in GiB. Default 20."
    )
    engine_version: str = Field(
        default="PostgreSQL_15",
        pattern=r"^PostgreSQL_1[1-7]$",
        description="Major version. Default PostgreSQL_15.",
    )
    database_name: str = Field(default="app", description="Database created for the app. Default app.")
    account_name: str = Field(
        default="app",
        description="Account the app logs in as; owns the database, so migrations can create "
        "tables. Default app.",
    )
    backup_retention_days: int = Field(
        default=7, ge=7, le=365, description="Days backups are kept. Default 7, the RDS minimum."
    )
    full_backup_days: tuple[str, ...] = Field(
        default=("Monday", "Wednesday", "Friday", "Sunday"),
        min_length=1,
        description="Weekdays with a full backup; the other days get incremental ones. "
        "Default Monday, Wednesday, Friday, Sunday.",
    )
    backup_window_utc: str = Field(
        default="18:00Z-19:00Z",
        pattern=r"^([01]\d|2[0-3]):00Z-([01]\d|2[0-3]):00Z$",
        description="Backup window, HH:00Z-HH:00Z in UTC. Default 18:00Z-19:00Z (02:00 in Beijing).",
    )
    deletion_protection: bool = Field(
        default=True,
        description="Protect the instance: Pulumi refuses to delete or replace it until this "
        "is set to false and applied. Default true.",
    )

    @field_validator("allowed_cidrs")
    @classmethod
    def _private_only(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        checked = []
        for cidr in value:
            network = parse_cidr(cidr, field="allowed_cidrs entry")
            if is_world(network) or not network.is_private:
                raise ValueError(
                    f"allowed_cidrs entry {cidr!r} is not a private network; the database "
                    "accepts only the app subnets, such as '10.20.0.0/24'"
                )
            checked.append(network.with_prefixlen)
        return tuple(checked)

    @field_validator("database_name", "account_name")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not is_database_identifier(value):
            raise ValueError(
                f"{value!r} must be 2-63 of a-z, 0-9 and _, starting with a letter, and not a "
                "reserved name (postgres, root, admin)"
            )
        return value

    @field_validator("full_backup_days")
    @classmethod
    def _weekdays(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [day for day in value if day not in _WEEKDAYS]
        if unknown:
            raise ValueError(f"full_backup_days has {unknown}; use weekday names such as 'Monday'")
        return value


def private_endpoint(endpoints: Sequence[Any] | None) -> tuple[str, str]:
    """(host, port) of the instance's private read-write address."""
    for endpoint in endpoints or []:
        for address in endpoint.addresses or []:
            if address.network_type == "Private":
                return str(address.domain or address.ip_address), str(address.port or "5432")
    return "", "5432"


class Postgres(pulumi.ComponentResource):
    """An RDS for PostgreSQL instance with one database and one account.

    No public endpoint is created; the allowlist holds only the app subnets. On delete: with
    deletion_protection (the default) Pulumi refuses; without it the instance and its data
    are deleted, and only the backups RDS keeps after deletion remain.
    """

    instance_id: pulumi.Output[str]
    endpoint_host: pulumi.Output[str]
    endpoint_port: pulumi.Output[str]
    database_name: str
    account_name: str
    account_password: pulumi.Output[str]
    database_url: pulumi.Output[str]
    allowed_cidrs: tuple[str, ...]

    def __init__(self, name: str, args: PostgresArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("database", "Postgres"), name, None, opts)
        password = random.RandomPassword(
            f"{name}-password",
            length=32,
            special=True,
            override_special=_PASSWORD_SPECIALS,
            min_upper=2,
            min_lower=2,
            min_numeric=2,
            min_special=1,
            opts=child(self),
        )
        allowlist = volcengine.rds_postgresql.Allowlist(
            f"{name}-allowlist",
            allow_list_name=f"{name}-app-subnets",
            allow_list_desc="App subnets only (fastapi-deploy)",
            allow_list_type="IPv4",
            allow_lists=list(args.allowed_cidrs),
            opts=child(self),
        )
        instance = volcengine.rds_postgresql.Instance(
            f"{name}-instance",
            instance_name=f"{name}-postgres",
            db_engine_version=args.engine_version,
            node_spec=args.node_spec,
            storage_space=args.storage_gib,
            subnet_id=args.subnet_id,
            primary_zone_id=args.primary_zone_id,
            secondary_zone_id=args.secondary_zone_id,
            charge_info=volcengine.rds_postgresql.InstanceChargeInfoArgs(charge_type="PostPaid"),
            # Without deletion protection, inherit the caller's `protect` rather than override it.
            opts=child(self, protect=True if args.deletion_protection else None),
        )
        volcengine.rds_postgresql.AllowlistAssociate(
            f"{name}-allowlist-association",
            allow_list_id=allowlist.id,
            instance_id=instance.id,
            opts=child(self),
        )
        account = volcengine.rds_postgresql.Account(
            f"{name}-account",
            instance_id=instance.id,
            account_name=args.account_name,
            account_password=password.result,
            account_type="Normal",
            opts=child(self, additional_secret_outputs=["account_password"]),
        )
        database = volcengine.rds_postgresql.Database(
            f"{name}-database",
            instance_id=instance.id,
            db_name=args.database_name,
            owner=account.account_name,
            character_set_name="utf8",
            opts=child(self),
        )
        volcengine.rds_postgresql.BackupPolicy(
            f"{name}-backup-policy",
            instance_id=instance.id,
            backup_retention_period=args.backup_retention_days,
            full_backup_period=",".join(args.full_backup_days),
            full_backup_time=args.backup_window_utc,
            opts=child(self),
        )
        endpoint = instance.endpoints.apply(private_endpoint)
        self.instance_id = instance.id
        self.endpoint_host = endpoint.apply(lambda pair: pair[0])
        self.endpoint_port = endpoint.apply(lambda pair: pair[1])
        self.database_name = args.database_name
        self.account_name = args.account_name
        self.allowed_cidrs = args.allowed_cidrs
        self.account_password = pulumi.Output.secret(password.result)
        # Waits for the database so that the URL is never used before it exists.
        self.database_url = pulumi.Output.secret(
            pulumi.Output.all(
                self.endpoint_host, self.endpoint_port, password.result, database.db_name
            ).apply(
                lambda values: database_url(args.account_name, values[2], values[0], values[1], values[3])
            )
        )
        self.register_outputs(
            {
                "instance_id": self.instance_id,
                "endpoint_host": self.endpoint_host,
                "endpoint_port": self.endpoint_port,
                "database_name": self.database_name,
                "account_name": self.account_name,
                "account_password": self.account_password,
                "database_url": self.database_url,
                "allowed_cidrs": list(self.allowed_cidrs),
            }
        )
