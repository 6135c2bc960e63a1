"""DockerNetwork: the private bridge network of the dev stack."""

from __future__ import annotations

import pulumi
import pulumi_docker as docker
from pydantic import Field

from fastapi_deploy.components._base import ComponentArgs, child, project_token

__all__ = ["DockerNetwork", "DockerNetworkArgs"]


class DockerNetworkArgs(ComponentArgs):
    internal: bool = Field(
        default=False,
        description="Cut the network off from the outside. Default false: the dev host "
        "installs packages from the internet on first boot, as a cloud host does.",
    )


class DockerNetwork(pulumi.ComponentResource):
    """A user-defined bridge network: containers on it reach each other by name, and nothing
    outside reaches them except through ports a container publishes.

    On delete: the network is removed once no container uses it.
    """

    network_name: pulumi.Output[str]
    network_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: DockerNetworkArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(project_token("dev", "DockerNetwork"), name, None, opts)
        network = docker.Network(
            f"{name}-network",
            name=name,
            driver="bridge",
            internal=args.internal,
            opts=child(self),
        )
        self.network_name = network.name
        self.network_id = network.id
        self.register_outputs({"network_name": self.network_name, "network_id": self.network_id})
