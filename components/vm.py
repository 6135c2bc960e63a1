"""Vm: one ECS instance booting a public image with cloud-init user data."""

from __future__ import annotations

import base64

import pulumi
import pulumi_volcengine as volcengine
from pydantic import Field

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token, secret
from fastapi_deploy.components._eip import attached_eip
from fastapi_deploy.components._images import lookup_image_id
from fastapi_deploy.components._user_data import console_password

__all__ = ["InstanceBootArgs", "Vm", "VmArgs", "boot_image_id", "encode_user_data"]


def boot_image_id(
    args: InstanceBootArgs, os_version: str, instance_type: str, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """The image a host boots: `args.image_id`, or the public image the lookup finds."""
    if args.image_id:
        return pulumi.Output.from_input(args.image_id)
    return lookup_image_id(args.image_os_name, os_version, instance_type, parent=parent)


def encode_user_data(cloud_config: str) -> str:
    """ECS takes user data Base64-encoded."""
    return base64.b64encode(cloud_config.encode()).decode()


class InstanceBootArgs(ComponentArgs):
    """Fields every component that boots ECS hosts takes alike (Vm, AppHost, AppFleet): the
    public image's platform and the system disk's type. The fields whose wording or limits
    differ per component (instance type, image version, disk size, key pair) stay with it."""

    image_os_name: str = Field(
        default="Debian",
        description="Platform of the public image, looked up at deploy time. Default Debian.",
    )
    image_id: str = Field(
        default="",
        description="Image to boot instead of looking one up, such as a pre-baked image of your "
        "own with the host packages installed (it boots faster). Default '': the newest public "
        "image of image_os_name and image_os_version that supports cloud-init.",
    )
    system_disk_type: str = Field(
        default="ESSD_PL0",
        pattern=r"^(ESSD_PL0|ESSD_PL1|ESSD_PL2|ESSD_FlexPL|PTSSD)$",
        description="System disk type. Default ESSD_PL0.",
    )


class VmArgs(InstanceBootArgs):
    subnet_id: StrInput = Field(description="Subnet of the primary network interface. Required.")
    security_group_ids: tuple[StrInput, ...] = Field(
        min_length=1, max_length=5, description="Security groups of the instance (1-5). Required."
    )
    instance_type: str = Field(
        default="ecs.g3il.large", description="ECS instance type. Default ecs.g3il.large."
    )
    image_os_version: str = Field(
        default="12",
        description="Platform version; the newest matching build with cloud-init is used when "
        "the instance is created (later builds do not replace it). Default 12.",
    )
    user_data: StrInput = Field(
        default="",
        description="#cloud-config text (plain, not Base64: the component encodes it). Kept "
        "secret: user data usually carries credentials. Default '': none. Changing it "
        "replaces the instance, because cloud-init reads it only on first boot.",
    )
    system_disk_gib: int = Field(
        default=40, ge=20, le=2048, description="System disk size in GiB. Default 40."
    )
    key_pair_name: str = Field(
        default="",
        description="ECS key pair for the image's default login. Default '': a generated "
        "console password instead (secret; sshd refuses passwords); admin keys come from the "
        "user data.",
    )
    private_ip_address: str | None = Field(
        default=None,
        description="A fixed private address in the subnet, for a host others must know before "
        "it exists. Default None: the subnet picks one.",
    )
    public_bandwidth_mbps: int = Field(
        default=0,
        ge=0,
        le=200,
        description="Bandwidth of a public address (EIP) for the instance, in Mbit/s. Default "
        "0: no public address, as for hosts behind the load balancer. The EIP is a separate "
        "resource, so replacing the instance keeps the address.",
    )


class Vm(pulumi.ComponentResource):
    """An ECS instance (pay-as-you-go) with an optional EIP.

    On delete: the instance and its system disk are destroyed; nothing on them is kept.
    """

    instance_id: pulumi.Output[str]
    instance_private_ip: pulumi.Output[str]
    instance_public_ip: pulumi.Output[str]
    image_id: pulumi.Output[str]
    console_password: pulumi.Output[str] | None

    def __init__(self, name: str, args: VmArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("compute", "Vm"), name, None, opts)
        self.image_id = boot_image_id(args, args.image_os_version, args.instance_type, parent=self)
        user_data = secret(pulumi.Output.from_input(args.user_data).apply(encode_user_data))
        self.console_password = None if args.key_pair_name else console_password(self, name)
        instance = volcengine.ecs.Instance(
            f"{name}-instance",
            instance_name=name,
            host_name=name,
            instance_type=args.instance_type,
            image_id=self.image_id,
            instance_charge_type="PostPaid",
            subnet_id=args.subnet_id,
            primary_ip_address=args.private_ip_address,
            security_group_ids=list(args.security_group_ids),
            system_volume_type=args.system_disk_type,
            system_volume_size=args.system_disk_gib,
            user_data=user_data,
            key_pair_name=args.key_pair_name or None,
            password=self.console_password,
            opts=child(
                self,
                additional_secret_outputs=["user_data", "password"],
                replace_on_changes=["user_data"],
                # A newer image build must not replace a running host by surprise; new hosts
                # (or `pulumi up --replace`) pick it up.
                ignore_changes=["image_id"],
            ),
        )
        self.instance_id = instance.id
        self.instance_private_ip = instance.primary_ip_address
        if args.public_bandwidth_mbps:
            address, _ = attached_eip(
                self, name, bandwidth_mbps=args.public_bandwidth_mbps, instance_id=instance.id, instance_type="EcsInstance"
            )
            self.instance_public_ip = address.eip_address
        else:
            self.instance_public_ip = pulumi.Output.from_input("")
        self.register_outputs(
            {
                "instance_id": self.instance_id,
                "instance_private_ip": self.instance_private_ip,
                "instance_public_ip": self.instance_public_ip,
                "image_id": self.image_id,
                "console_password": self.console_password,
            }
        )
