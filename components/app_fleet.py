"""AppFleet: an autoscaling group of app hosts behind the load balancer's server groups.

Every host boots from the same rendered user data. Certificates: with ACME, each host would
run Certbot itself, and Let's Encrypt's validation requests would land on random hosts
behind the CLB, so issuance fails; the spec's certificate source is replaceable and a later
change gives the fleet a shared certificate. Until then a fleet's TLS is not finished.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pulumi
import pulumi_volcengine as volcengine
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fastapi_deploy.components._base import StrInput, child, project_token, secret
from fastapi_deploy.components._user_data import HostSpecInput, console_password, rendered_cloud_config
from fastapi_deploy.components.app_host import AppHostInstanceArgs
from fastapi_deploy.components.load_balancer import HEALTH_CHECK_PORT
from fastapi_deploy.components.vm import boot_image_id, encode_user_data
from fastapi_deploy.stack_model.host_spec import AppHostSpec
from fastapi_deploy.stack_model.stack_config import MIN_CPU_THRESHOLD_GAP_PERCENT
from fastapi_deploy.stack_model.volcengine_rules import SCALING_DISK_TYPES

__all__ = ["AppFleet", "AppFleetArgs", "ServerGroupAttachment"]

# Out-of-band CPU, measured by the hypervisor: it needs no monitoring agent on the host.
CPU_METRIC = "Instance_CpuBusy_Avg"



class ServerGroupAttachment(BaseModel):
    """A load balancer server group the fleet's hosts join, on one port."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    server_group_id: StrInput = Field(description="Server group id. Required.")
    port: int = Field(ge=1, le=65535, description="Port the hosts receive on. Required.")
    weight: int = Field(default=50, ge=0, le=100, description="Weight of each host. Default 50.")


class AppFleetArgs(AppHostInstanceArgs):
    host_spec: HostSpecInput = Field(
        description="The app-host spec (or an Output of one) every host boots from. Required."
    )
    subnet_ids: tuple[StrInput, ...] = Field(
        min_length=1,
        description="Subnets the hosts spread over, one per zone; give two or more so a zone "
        "outage leaves hosts running. Required.",
    )
    security_group_ids: tuple[StrInput, ...] = Field(
        min_length=1, max_length=5, description="Security groups of every host. Required."
    )
    load_balancer_server_groups: tuple[ServerGroupAttachment, ...] = Field(
        default=(),
        description="Server groups new hosts join and leaving hosts quit. Default (): none.",
    )
    system_disk_gib: int = Field(
        default=40, ge=20, le=500, description="System disk of each host in GiB. Default 40."
    )
    min_size: int = Field(
        default=2, ge=0, le=100, description="Fewest hosts the policies may scale in to. Default 2."
    )
    desired_size: int = Field(
        default=2,
        ge=0,
        le=100,
        description="Hosts at creation. Default 2. Afterwards the scaling policies own the "
        "count: later changes to this value are ignored rather than fighting them.",
    )
    max_size: int = Field(
        default=4, ge=1, le=100, description="Most hosts the policies may scale out to. Default 4."
    )
    cpu_scale_out_percent: int = Field(
        default=70, ge=2, le=100, description="Average CPU that adds hosts. Default 70."
    )
    cpu_scale_in_percent: int = Field(
        default=30,
        ge=1,
        le=99,
        description="Average CPU that removes hosts. Default 30; must be at least "
        f"{MIN_CPU_THRESHOLD_GAP_PERCENT} points under cpu_scale_out_percent.",
    )
    cpu_evaluation_periods: int = Field(
        default=3,
        ge=1,
        le=10,
        description="Consecutive one-minute periods a threshold must hold. Default 3.",
    )
    scale_out_step: int = Field(
        default=1, ge=1, le=100, description="Hosts added when CPU is high. Default 1."
    )
    scale_in_step: int = Field(
        default=1, ge=1, le=100, description="Hosts removed when CPU is low. Default 1."
    )
    scale_out_cooldown_seconds: int = Field(
        default=300,
        ge=0,
        le=86400,
        description="Pause after adding hosts. Default 300: a host needs minutes to boot.",
    )
    scale_in_cooldown_seconds: int = Field(
        default=600, ge=0, le=86400, description="Pause after removing hosts. Default 600."
    )

    @field_validator("system_disk_type")
    @classmethod
    def _scaling_disk(cls, value: str) -> str:
        if value not in SCALING_DISK_TYPES:
            raise ValueError(
                f"system_disk_type={value!r}: Auto Scaling takes {', '.join(SCALING_DISK_TYPES)}"
            )
        return value

    @model_validator(mode="after")
    def _sizes_and_thresholds(self) -> AppFleetArgs:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"min_size={self.min_size}, desired_size={self.desired_size}, "
                f"max_size={self.max_size}: need min <= desired <= max; adjust the sizes"
            )
        gap = self.cpu_scale_out_percent - self.cpu_scale_in_percent
        if gap < MIN_CPU_THRESHOLD_GAP_PERCENT:
            raise ValueError(
                f"cpu_scale_in_percent={self.cpu_scale_in_percent} is {gap} points under "
                f"cpu_scale_out_percent={self.cpu_scale_out_percent}; with no real gap the "
                "fleet adds a host, drops under the scale-in line and removes it again (it "
                f"flaps); keep at least {MIN_CPU_THRESHOLD_GAP_PERCENT} points between them"
            )
        return self


def _digest(values: list[Any]) -> str:
    """A digest of what new hosts boot from, over the component's own inputs (plain values),
    so a provider that adds or normalizes output fields does not move it; not secret (a hash)."""
    encoded = json.dumps(values, sort_keys=True, default=str).encode()
    return hashlib.sha256(encoded).hexdigest()[:32]


def _gated(spec: AppHostSpec) -> AppHostSpec:
    """Hosts behind the CLB must run the health gate on the port its checks probe, or no host
    would ever pass a check and the fleet would serve nothing."""
    if spec.health_gate_port != HEALTH_CHECK_PORT:
        raise ValueError(
            f"the fleet is attached to load balancer server groups, but its host spec has "
            f"health_gate_port={spec.health_gate_port}: the LoadBalancer's health checks probe "
            f"port {HEALTH_CHECK_PORT}, which only the hosts' health gate opens; build the spec "
            f"with health_gate_port={HEALTH_CHECK_PORT} and add "
            "stack_model.ingress.clb_health_check_rule() to the hosts' security group"
        )
    return spec


class AppFleet(pulumi.ComponentResource):
    """A scaling group with one active scaling configuration and two CPU alarm policies.

    A changed spec updates the scaling configuration in place: new hosts boot from it,
    running hosts keep theirs (Volcengine has no instance refresh). FleetRoll replaces them,
    driven by `host_configuration_digest`; by hand, scale out then in (the terminate policy
    retires hosts of the oldest configuration first). On delete: the group and its hosts are
    destroyed; hosts keep no data.
    """

    scaling_group_id: pulumi.Output[str]
    scaling_configuration_id: pulumi.Output[str]
    # Changes whenever a new host would boot differently from a running one (FleetRoll).
    host_configuration_digest: pulumi.Output[str]
    image_id: pulumi.Output[str]
    user_data_cloud_config: pulumi.Output[str]
    console_password: pulumi.Output[str] | None

    def __init__(self, name: str, args: AppFleetArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("compute", "AppFleet"), name, None, opts)
        self.image_id = boot_image_id(args, args.image_os_version, args.instance_type, parent=self)
        spec = args.host_spec
        if args.load_balancer_server_groups:
            spec = pulumi.Output.from_input(spec).apply(_gated)
        self.user_data_cloud_config = rendered_cloud_config(spec, args.instance_type)
        self.console_password = None if args.key_pair_name else console_password(self, name)
        group = volcengine.autoscaling.ScalingGroup(
            f"{name}-group",
            scaling_group_name=f"{name}-group",
            subnet_ids=list(args.subnet_ids),
            min_instance_number=args.min_size,
            desire_instance_number=args.desired_size,
            max_instance_number=args.max_size,
            default_cooldown=max(args.scale_out_cooldown_seconds, 5),
            multi_az_policy="BALANCE",
            instance_terminate_policy="OldestScalingConfigurationWithOldestInstance",
            server_group_attributes=[
                volcengine.autoscaling.ScalingGroupServerGroupAttributeArgs(
                    server_group_id=attachment.server_group_id,
                    port=attachment.port,
                    weight=attachment.weight,
                )
                for attachment in args.load_balancer_server_groups
            ],
            opts=child(self, ignore_changes=["desire_instance_number"]),
        )
        configuration = volcengine.autoscaling.ScalingConfiguration(
            f"{name}-configuration",
            scaling_configuration_name=f"{name}-configuration",
            scaling_group_id=group.id,
            image_id=self.image_id,
            instance_types=[args.instance_type],
            instance_name=f"{name}-host",
            host_name=f"{name}-host",
            security_group_ids=list(args.security_group_ids),
            volumes=[
                volcengine.autoscaling.ScalingConfigurationVolumeArgs(
                    volume_type=args.system_disk_type,
                    size=args.system_disk_gib,
                    delete_with_instance=True,
                )
            ],
            key_pair_name=args.key_pair_name or None,
            # The API needs a password or a key pair (AtLeastOneOf in the provider's schema).
            password=self.console_password,
            user_data=secret(self.user_data_cloud_config.apply(encode_user_data)),
            # A newer public image build does not change what new hosts boot (nor roll the
            # fleet) behind the user's back, as for a single host; an image_id given does.
            opts=child(
                self,
                additional_secret_outputs=["user_data", "password"],
                ignore_changes=[] if args.image_id else ["image_id"],
            ),
        )
        attachment = volcengine.autoscaling.ScalingConfigurationAttachment(
            f"{name}-configuration-attachment",
            scaling_configuration_id=configuration.id,
            opts=child(self),
        )
        enabler = volcengine.autoscaling.ScalingGroupEnabler(
            f"{name}-enabler",
            scaling_group_id=group.id,
            opts=child(self, depends_on=[attachment]),
        )
        policies = (
            (
                "scale-out",
                ">",
                args.cpu_scale_out_percent,
                args.scale_out_step,
                args.scale_out_cooldown_seconds,
            ),
            ("scale-in", "<", args.cpu_scale_in_percent, -args.scale_in_step, args.scale_in_cooldown_seconds),
        )
        for label, comparison, threshold, adjustment, cooldown in policies:
            volcengine.autoscaling.ScalingPolicy(
                f"{name}-{label}",
                scaling_group_id=group.id,
                scaling_policy_name=f"{name}-{label}",
                scaling_policy_type="Alarm",
                active=True,
                adjustment_type="QuantityChangeInCapacity",
                adjustment_value=adjustment,
                cooldown=cooldown,
                alarm_policy_rule_type="Static",
                alarm_policy_evaluation_count=args.cpu_evaluation_periods,
                alarm_policy_condition_metric_name=CPU_METRIC,
                alarm_policy_condition_metric_unit="Percent",
                alarm_policy_condition_comparison_operator=comparison,
                alarm_policy_condition_threshold=str(threshold),
                # A policy can be active only once its group is enabled.
                opts=child(self, depends_on=[enabler]),
            )
        self.scaling_group_id = group.id
        self.scaling_configuration_id = configuration.id
        # What running hosts cannot pick up in place: the configuration is modified in place
        # (its id stays), and only hosts created afterwards boot from the new values.
        self.host_configuration_digest = pulumi.Output.unsecret(
            pulumi.Output.all(
                self.user_data_cloud_config,
                args.image_id or f"lookup:{args.image_os_name}/{args.image_os_version}",
                args.instance_type,
                pulumi.Output.all(*args.security_group_ids).apply(sorted),
                args.system_disk_type,
                args.system_disk_gib,
                args.key_pair_name,
                self.console_password or "",
            ).apply(_digest)
        )
        self.register_outputs(
            {
                "scaling_group_id": self.scaling_group_id,
                "scaling_configuration_id": self.scaling_configuration_id,
                "host_configuration_digest": self.host_configuration_digest,
                "image_id": self.image_id,
                "user_data_cloud_config": self.user_data_cloud_config,
                "console_password": self.console_password,
            }
        )
