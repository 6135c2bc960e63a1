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

__all__ = ["NoPrivateEndpoint", "Postgres", "PostgresArgs", "private_endpoint"]

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
                f"{value!r} must be 2-63 of a-z, 0-9 and _, starting with a letter and ending "
                "with a letter or digit, not pg_..., not an SQL reserved word and not a name the "
                "server uses (postgres, root, admin)"
            )
        return value


class NoPrivateEndpoint(RuntimeError):
    """The instance reports no private address on its read-write endpoint."""


def private_endpoint(endpoints: Sequence[Any] | None) -> tuple[str, str]:
    """(host, port) of the instance's private read-write address: the default endpoint
    (`endpoint_type` "Cluster", read-write) and its "Private" address. Other endpoints may be
    read-only; their addresses would take writes nowhere."""
    for endpoint in endpoints or []:
        if endpoint.endpoint_type != "Cluster":
            continue
        for address in endpoint.addresses or []:
            if address.network_type == "Private":
                return str(address.domain or address.ip_address), str(address.port or "5432")
    raise NoPrivateEndpoint(
        "the RDS for PostgreSQL instance lists no private address on its Cluster (read-write) "
        f"endpoint; endpoints seen: {[getattr(item, 'endpoint_type', None) for item in endpoints or []]}"
    )


class Postgres(pulumi.ComponentResource):
    """An RDS for PostgreSQL instance with one database and one account.

    No public endpoint is created; the allowlist holds only the app subnets. Backups: RDS's
    default automated policy (kept 7 days); pulumi-volcengine 0.0.47 cannot create a backup
    policy resource (its create sends no request). On delete: with deletion_protection (the
    default) Pulumi refuses; without it the instance and its data are deleted, and only the
    backups RDS keeps after deletion remain.
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
        # In a preview the endpoints are unknown and this apply does not run.
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
