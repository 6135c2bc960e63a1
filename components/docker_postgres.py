"""DockerPostgres: the dev stack's database, a Postgres container with a generated password."""

from __future__ import annotations

import re

import pulumi
import pulumi_docker as docker
import pulumi_random as random
from pydantic import Field, field_validator

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token, secret
from fastapi_deploy.stack_model.stack_config import database_url

__all__ = ["DockerPostgres", "DockerPostgresArgs"]

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]{1,62}$")
POSTGRES_PORT = 5432


class DockerPostgresArgs(ComponentArgs):
    network_name: StrInput = Field(description="Docker network the database joins. Required.")
    image: str = Field(
        default="postgres:15-bookworm",
        description="Postgres image. Default postgres:15-bookworm, the version the cloud stack runs.",
    )
    database_name: str = Field(default="app", description="Database for the app. Default app.")
    user: str = Field(default="app", description="Account the app connects as. Default app.")

    @field_validator("database_name", "user")
    @classmethod
    def _identifier(cls, value: str) -> str:
        if not _IDENTIFIER.match(value):
            raise ValueError(f"{value!r} must be 2-63 of a-z, 0-9 and _, starting with a letter")
        return value


class DockerPostgres(pulumi.ComponentResource):
    """A Postgres container reachable only on the private network: no port is published.

    On delete: the container goes; the data volume is deleted with the stack (dev data).
    """

    container_name: pulumi.Output[str]
    endpoint_host: str
    endpoint_port: int
    password: pulumi.Output[str]
    database_url: pulumi.Output[str]

    def __init__(
        self, name: str, args: DockerPostgresArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(project_token("dev", "DockerPostgres"), name, None, opts)
        password = random.RandomPassword(f"{name}-password", length=32, special=False, opts=child(self))
        image = docker.RemoteImage(f"{name}-image", name=args.image, keep_locally=True, opts=child(self))
        volume = docker.Volume(f"{name}-data", name=f"{name}-data", opts=child(self))
        container = docker.Container(
            f"{name}-container",
            name=name,
            image=image.image_id,
            hostname=name,
            restart="unless-stopped",
            envs=[
                secret(password.result).apply(lambda value: f"POSTGRES_PASSWORD={value}"),
                f"POSTGRES_USER={args.user}",
                f"POSTGRES_DB={args.database_name}",
            ],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network_name, aliases=[name])],
            mounts=[
                docker.ContainerMountArgs(
                    target="/var/lib/postgresql/data", type="volume", source=volume.name
                )
            ],
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "pg_isready", "-U", args.user, "-d", args.database_name],
                interval="5s",
                timeout="3s",
                retries=10,
            ),
            # Deliberately no `ports`: only containers on the network reach the database.
            opts=child(self, additional_secret_outputs=["envs"]),
        )
        self.container_name = container.name
        self.endpoint_host = name
        self.endpoint_port = POSTGRES_PORT
        self.password = pulumi.Output.secret(password.result)
        self.database_url = pulumi.Output.secret(
            pulumi.Output.all(password.result, container.id).apply(
                lambda values: database_url(args.user, values[0], name, POSTGRES_PORT, args.database_name)
            )
        )
        self.register_outputs(
            {
                "container_name": self.container_name,
                "endpoint_host": self.endpoint_host,
                "endpoint_port": self.endpoint_port,
                "password": self.password,
                "database_url": self.database_url,
            }
        )
