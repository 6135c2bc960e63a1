"""AppHost: one VM running the app, its user data rendered from the app-host spec.

Single-host mode: no load balancer, the host has its own public address and gets its
certificate with Certbot itself.
"""

from __future__ import annotations

import pulumi
from pydantic import Field

from fastapi_deploy.components._base import StrInput, project_token
from fastapi_deploy.components._user_data import HostSpecInput, rendered_cloud_config
from fastapi_deploy.components.vm import InstanceBootArgs, Vm, VmArgs

__all__ = ["AppHost", "AppHostArgs", "AppHostInstanceArgs"]


class AppHostInstanceArgs(InstanceBootArgs):
    """Fields an app host takes alike whether it stands alone (AppHost) or in a fleet
    (AppFleet): what it runs on, on top of the image and disk type of InstanceBootArgs."""

    instance_type: str = Field(
        default="ecs.g3il.large",
        description="ECS instance type of each host. Default ecs.g3il.large (2 vCPU, 8 GiB); it "
        "must match the spec's capacity, which sizes gunicorn.",
    )
    image_os_version: str = Field(
        default="12",
        description="Platform version; the newest matching build with cloud-init is used. Default 12.",
    )
    key_pair_name: str = Field(
        default="",
        description="ECS key pair for the image's default login. Default '': a generated console "
        "password instead (secret; sshd refuses passwords); admin keys come from the spec's "
        "admin_ssh_keys.",
    )


class AppHostArgs(AppHostInstanceArgs):
    host_spec: HostSpecInput = Field(
        description="The app-host spec (or an Output of one). Its rendered user data boots "
        "the VM; a changed spec replaces the VM. Required."
    )
    subnet_id: StrInput = Field(description="Subnet of the host. Required.")
    security_group_ids: tuple[StrInput, ...] = Field(
        min_length=1, max_length=5, description="Security groups of the host. Required."
    )
    system_disk_gib: int = Field(
        default=40, ge=20, le=2048, description="System disk of the host in GiB. Default 40."
    )
    public_bandwidth_mbps: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Bandwidth of the host's public address, in Mbit/s. Default 10. The "
        "address survives a host replacement, so DNS stays valid.",
    )


class AppHost(pulumi.ComponentResource):
    """One app host (a Vm) with a public address.

    On delete: the VM goes; the host keeps no data (the database and bucket hold it).
    """

    instance_id: pulumi.Output[str]
    instance_public_ip: pulumi.Output[str]
    instance_private_ip: pulumi.Output[str]
    user_data_cloud_config: pulumi.Output[str]
    console_password: pulumi.Output[str] | None

    def __init__(self, name: str, args: AppHostArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("compute", "AppHost"), name, None, opts)
        self.user_data_cloud_config = rendered_cloud_config(args.host_spec, args.instance_type)
        vm = Vm(
            f"{name}-vm",
            VmArgs(
                subnet_id=args.subnet_id,
                security_group_ids=args.security_group_ids,
                instance_type=args.instance_type,
                image_os_name=args.image_os_name,
                image_os_version=args.image_os_version,
                image_id=args.image_id,
                user_data=self.user_data_cloud_config,
                system_disk_gib=args.system_disk_gib,
                system_disk_type=args.system_disk_type,
                key_pair_name=args.key_pair_name,
                public_bandwidth_mbps=args.public_bandwidth_mbps,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.instance_id = vm.instance_id
        self.instance_public_ip = vm.instance_public_ip
        self.instance_private_ip = vm.instance_private_ip
        self.console_password = vm.console_password
        self.register_outputs(
            {
                "instance_id": self.instance_id,
                "instance_public_ip": self.instance_public_ip,
                "instance_private_ip": self.instance_private_ip,
                "user_data_cloud_config": self.user_data_cloud_config,
                "console_password": self.console_password,
            }
        )
