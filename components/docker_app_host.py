"""DockerAppHost: the dev stack's app host, a Debian 12 container with systemd and cloud-init
booting the same rendered user data as a cloud host (dev/prod parity, Twelve-Factor X).

The user data is handed over as cloud-init's NoCloud seed, the same datasource the boot
tests use; cloud-init then runs its real stages inside the container.
"""

from __future__ import annotations

import hashlib
import ipaddress
from pathlib import Path

import pulumi
import pulumi_docker as docker
from pydantic import Field, field_validator, model_validator

from fastapi_deploy.app_host.release import record_key
from fastapi_deploy.artifacts import LocalArtifact, tooling_artifact
from fastapi_deploy.cloud_init.render import release_record
from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token
from fastapi_deploy.components._user_data import HostSpecInput, rendered_cloud_config
from fastapi_deploy.stack_model.host_spec import AppHostSpec, LocalStoreSpec

__all__ = ["NOCLOUD_SEED_DIR", "SEED_PERMISSIONS", "DockerAppHost", "DockerAppHostArgs", "nocloud_meta_data"]

NOCLOUD_SEED_DIR = "/var/lib/cloud/seed/nocloud"
SEED_PERMISSIONS = "0600"


def nocloud_meta_data(host_name: str, cloud_config: str) -> str:
    """meta-data for the NoCloud seed; a new instance-id per user data makes cloud-init treat
    changed user data as a new instance, as a replaced cloud VM would be."""
    digest = hashlib.sha256(cloud_config.encode()).hexdigest()[:12]
    return f"instance-id: {host_name}-{digest}\nlocal-hostname: {host_name}\n"


def _with_local_store(spec: AppHostSpec) -> AppHostSpec:
    if spec.store != LocalStoreSpec():
        raise ValueError(
            f"the dev host's spec names store {spec.store.kind!r}; give it LocalStoreSpec() "
            "(the component puts the artifacts into the container's store at its default path)"
        )
    return spec


class DockerAppHostArgs(ComponentArgs):
    host_spec: HostSpecInput = Field(
        description="The app-host spec (or an Output of one); its store must be a LocalStoreSpec "
        "at the default path, which this component fills. Required."
    )
    artifacts: tuple[LocalArtifact, ...] = Field(
        default=(),
        description="Files the spec names besides the host tooling, such as the app's package; "
        "put into the container's store with the tooling. Default (): the tooling only.",
    )
    network_name: StrInput = Field(description="Docker network shared with the database. Required.")
    build_context: str = Field(
        description="Directory holding the app-host Dockerfile (docker/app-host in this "
        "repository). Required: an installed package cannot know where the repository is."
    )
    image_name: str = Field(
        default="fastapi-deploy/app-host:dev",
        description="Name of the locally built image (never pushed). Default fastapi-deploy/app-host:dev.",
    )
    published_address: str = Field(
        default="127.0.0.1",
        description="Host address the ports are published on. Default 127.0.0.1; only "
        "loopback addresses are accepted: the dev host runs with test secrets and a "
        "self-signed certificate.",
    )
    https_port: int = Field(default=8443, ge=1024, le=65535, description="Reaches 443. Default 8443.")
    http_port: int = Field(default=8080, ge=1024, le=65535, description="Reaches 80. Default 8080.")
    privileged: bool = Field(
        default=False,
        description="Run the container privileged. Default false; turn it on only if your "
        "engine blocks the sandboxing of the hosts' hardened systemd units.",
    )

    @field_validator("published_address")
    @classmethod
    def _loopback(cls, value: str) -> str:
        try:
            address = ipaddress.ip_address(value)
        except ValueError:
            raise ValueError(f"published_address={value!r} is not an IP address; use '127.0.0.1'") from None
        if not address.is_loopback:
            raise ValueError(
                f"published_address={value!r} is not a loopback address; dev ports are "
                "published on 127.0.0.1 only"
            )
        return value

    @field_validator("build_context")
    @classmethod
    def _context(cls, value: str) -> str:
        if not (Path(value) / "Dockerfile").is_file():
            raise ValueError(f"build_context={value!r} has no Dockerfile; point it at docker/app-host")
        return value

    @model_validator(mode="after")
    def _distinct_ports(self) -> DockerAppHostArgs:
        if self.https_port == self.http_port:
            raise ValueError(f"https_port and http_port are both {self.http_port}; use two ports")
        return self


class DockerAppHost(pulumi.ComponentResource):
    """A locally built image and one container running systemd as PID 1.

    On delete: the container goes (the host keeps no data); the image stays in the engine.
    """

    container_name: pulumi.Output[str]
    https_url: str
    user_data_cloud_config: pulumi.Output[str]

    def __init__(
        self, name: str, args: DockerAppHostArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(project_token("dev", "DockerAppHost"), name, None, opts)
        image = docker.Image(
            f"{name}-image",
            image_name=args.image_name,
            skip_push=True,
            build=docker.DockerBuildArgs(
                context=args.build_context,
                dockerfile=str(Path(args.build_context) / "Dockerfile"),
                platform="linux/amd64",
            ),
            opts=child(self),
        )
        spec = pulumi.Output.from_input(args.host_spec).apply(_with_local_store)
        self.user_data_cloud_config = rendered_cloud_config(spec)
        meta_data = self.user_data_cloud_config.apply(lambda text: nocloud_meta_data(name, text))
        # The store inside the container: what a cloud host fetches from the bucket.
        store_files = [
            docker.ContainerUploadArgs(
                file=f"{LocalStoreSpec().path}/{artifact.ref.key}",
                source=str(artifact.path),
                source_hash=artifact.ref.sha256,
            )
            for artifact in (tooling_artifact(), *args.artifacts)
        ]
        # The app version the host runs (app_host.release). On Docker an upload is part of the
        # container, so a new version replaces the dev container; cloud hosts stay.
        store_files.append(
            docker.ContainerUploadArgs(
                file=spec.apply(lambda value: f"{LocalStoreSpec().path}/{record_key(value.app_name)}"),
                content=spec.apply(lambda value: release_record(value).to_json()),
                # It may name a private index with its credentials.
                permissions=SEED_PERMISSIONS,
            )
        )
        container = docker.Container(
            f"{name}-container",
            name=name,
            hostname=name,
            image=image.image_name,
            restart="unless-stopped",
            must_run=True,
            privileged=args.privileged,
            # systemd as PID 1: its own /run and /tmp, the cgroup tree, and its stop signal.
            command=["/sbin/init"],
            stop_signal="SIGRTMIN+3",
            tmpfs={"/run": "rw", "/run/lock": "rw", "/tmp": "rw"},
            cgroupns_mode="host",
            mounts=[
                docker.ContainerMountArgs(
                    target="/sys/fs/cgroup", source="/sys/fs/cgroup", type="bind", read_only=False
                )
            ],
            # The provider writes uploads 0644 unless told (terraform-provider-docker,
            # resource_docker_container_funcs.go, upload mode); the user data holds the
            # database password, so only root (cloud-init) may read it.
            uploads=[
                docker.ContainerUploadArgs(
                    file=f"{NOCLOUD_SEED_DIR}/user-data",
                    content=self.user_data_cloud_config,
                    permissions=SEED_PERMISSIONS,
                ),
                docker.ContainerUploadArgs(
                    file=f"{NOCLOUD_SEED_DIR}/meta-data", content=meta_data, permissions=SEED_PERMISSIONS
                ),
                *store_files,
            ],
            ports=[
                docker.ContainerPortArgs(internal=443, external=args.https_port, ip=args.published_address),
                docker.ContainerPortArgs(internal=80, external=args.http_port, ip=args.published_address),
            ],
            networks_advanced=[docker.ContainerNetworksAdvancedArgs(name=args.network_name, aliases=[name])],
            opts=child(self, additional_secret_outputs=["uploads"]),
        )
        self.container_name = container.name
        self.https_url = f"https://{args.published_address}:{args.https_port}"
        self.register_outputs(
            {
                "container_name": self.container_name,
                "https_url": self.https_url,
                "user_data_cloud_config": self.user_data_cloud_config,
            }
        )
