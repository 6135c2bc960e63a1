"""Monitoring: CloudMonitor alarm rules for the hosts, the load balancer and the database,
sent to one contact group."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_volcengine as volcengine
from pydantic import Field, field_validator, model_validator

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token

__all__ = ["ALARM_METRICS", "EVALUATION_COUNTS", "AlarmMetric", "Monitoring", "MonitoringArgs", "check_email"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_SILENCE_MINUTES = (5, 30, 60, 180, 360, 720, 1440)


def check_email(field: str, value: str) -> str:
    """An alarm contact's address (CloudMonitor's and Managed Prometheus's contacts alike)."""
    if not _EMAIL.match(value):
        raise ValueError(f"{field}={value!r} is not an email address such as 'ops@example.com'")
    return value


@dataclass(frozen=True)
class AlarmMetric:
    namespace: str
    sub_namespace: str
    metric_name: str
    unit: str


# Every metric the rules watch, in one table (docs/cloud-layer.md lists them). Host metrics
# are out-of-band (measured by the hypervisor), so no monitoring agent is needed on the host.
ALARM_METRICS: dict[str, AlarmMetric] = {
    "host_cpu": AlarmMetric("VCM_ECS", "Instance", "Instance_CpuBusy", "Percent"),
    "unhealthy_backends": AlarmMetric("VCM_CLB", "listener", "listener_unhealthy_rs_count", "Count"),
    # Not confirmed by any published table (the namespace is; these names follow RDS for
    # MySQL's): see docs/cloud-layer.md, "Monitoring".
    "database_cpu": AlarmMetric("VCM_RDS_PostgreSQL", "resource_monitor", "CpuUtil", "Percent"),
    "database_storage": AlarmMetric("VCM_RDS_PostgreSQL", "resource_monitor", "DiskUtil", "Percent"),
}

# The periods (minutes) a CloudMonitor rule's condition may be required to hold for.
EVALUATION_COUNTS = (1, 3, 5, 10, 15, 30, 60, 120)
_COMPARISON_WORDS = {">": "above", "<": "below", ">=": "at_least", "<=": "at_most", "=": "at", "!=": "not"}

DimensionValues = tuple[StrInput, ...]


class MonitoringArgs(ComponentArgs):
    region: str = Field(description="Region the rules watch. Required.")
    contact_name: str = Field(default="ops", min_length=1, description="Contact name. Default ops.")
    contact_email: str = Field(description="Email that receives every alarm. Required.")
    contact_phone: str = Field(
        default="", description="Phone that also gets alarms by SMS. Default '': email only."
    )
    host_instance_ids: tuple[StrInput, ...] = Field(
        default=(),
        description="ECS instances watched for high CPU (single hosts). Default (): none. A "
        "stopped instance reports no data points, so no metric rule can say it is down.",
    )
    fleet_hosts: bool = Field(
        default=False,
        description="Watch the CPU of every ECS instance in the region, for a fleet whose "
        "instance ids change (rules address instances by id, not by scaling group). Default "
        "false.",
    )
    load_balancer_id: StrInput | None = Field(
        default=None, description="CLB whose listeners report unhealthy hosts. Default: none."
    )
    load_balancer_listener_ids: tuple[StrInput, ...] = Field(
        default=(), description="Listeners watched for unhealthy backends. Default (): none."
    )
    database_instance_id: StrInput | None = Field(
        default=None, description="RDS instance watched for CPU and storage. Default: none."
    )
    cpu_alarm_percent: int = Field(default=85, ge=1, le=100, description="Host CPU alarm. Default 85.")
    database_cpu_alarm_percent: int = Field(
        default=80, ge=1, le=100, description="Database CPU alarm. Default 80."
    )
    database_storage_alarm_percent: int = Field(
        default=80, ge=1, le=100, description="Database storage alarm. Default 80."
    )
    evaluation_count: int = Field(
        default=3,
        description="Minutes a condition must hold before alarming: one of 1, 3, 5, 10, 15, 30, "
        "60, 120 (what CloudMonitor accepts). Default 3.",
    )
    silence_minutes: int = Field(
        default=30, description="Quiet time after an alarm notifies, in minutes. Default 30."
    )

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email("contact_email", value)

    @field_validator("contact_phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if value and not _PHONE.match(value):
            raise ValueError(f"contact_phone={value!r} is not a phone number such as '+8613800000000'")
        return value

    @field_validator("evaluation_count")
    @classmethod
    def _evaluation(cls, value: int) -> int:
        if value not in EVALUATION_COUNTS:
            raise ValueError(
                f"evaluation_count={value}: CloudMonitor accepts {', '.join(map(str, EVALUATION_COUNTS))}"
            )
        return value

    @field_validator("silence_minutes")
    @classmethod
    def _silence(cls, value: int) -> int:
        if value not in _SILENCE_MINUTES:
            raise ValueError(
                f"silence_minutes={value}: CloudMonitor accepts {', '.join(map(str, _SILENCE_MINUTES))}"
            )
        return value

    @model_validator(mode="after")
    def _listeners_need_balancer(self) -> MonitoringArgs:
        if self.load_balancer_listener_ids and self.load_balancer_id is None:
            raise ValueError("load_balancer_listener_ids needs load_balancer_id; pass the CLB id as well")
        return self


class Monitoring(pulumi.ComponentResource):
    """A contact, a contact group and the alarm rules that notify it.

    On delete: the rules and the contact go; alarm history stays in CloudMonitor.
    """

    contact_group_id: pulumi.Output[str]
    rule_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("monitoring", "Monitoring"), name, None, opts)
        contact = volcengine.cloud_monitor.Contact(
            f"{name}-contact",
            name=args.contact_name,
            email=args.contact_email,
            phone=args.contact_phone or None,
            opts=child(self),
        )
        group = volcengine.cloud_monitor.ContactGroup(
            f"{name}-contacts",
            name=f"{name}-contacts",
            description="Receives the alarms of fastapi-deploy",
            contacts_id_lists=[contact.id],
            opts=child(self),
        )
        self._name = name
        self._args = args
        self._group_id = group.id
        self.rule_ids = {}

        hosts: DimensionValues = ("*",) if args.fleet_hosts else args.host_instance_ids
        if hosts:
            self._rule(
                "host-cpu-high", "host_cpu", ">", args.cpu_alarm_percent, {"ResourceID": hosts}, "warning"
            )
        if args.load_balancer_id is not None and args.load_balancer_listener_ids:
            self._rule(
                "hosts-unhealthy",
                "unhealthy_backends",
                ">",
                0,
                {"ResourceID": (args.load_balancer_id,), "ListenerID": args.load_balancer_listener_ids},
                "critical",
            )
        if args.database_instance_id is not None:
            database: DimensionValues = (args.database_instance_id,)
            self._rule(
                "database-cpu-high",
                "database_cpu",
                ">",
                args.database_cpu_alarm_percent,
                {"ResourceID": database},
                "warning",
            )
            self._rule(
                "database-storage-high",
                "database_storage",
                ">",
                args.database_storage_alarm_percent,
                {"ResourceID": database},
                "critical",
            )
        self.contact_group_id = group.id
        self.register_outputs({"contact_group_id": self.contact_group_id, "rule_ids": self.rule_ids})

    def _rule(
        self,
        label: str,
        metric_key: str,
        comparison: str,
        threshold: int | float,
        dimensions: dict[str, DimensionValues],
        level: str,
    ) -> None:
        args = self._args
        metric = ALARM_METRICS[metric_key]
        methods = ["Email", "SMS"] if args.contact_phone else ["Email"]
        rule = volcengine.cloud_monitor.Rule(
            f"{self._name}-{label}",
            rule_name=f"{self._name}-{label}",
            # CloudMonitor takes letters, digits, _ and - here: no spaces or symbols.
            description=f"{metric.metric_name}_{_COMPARISON_WORDS[comparison]}_{threshold}_for_{args.evaluation_count}_min",
            namespace=metric.namespace,
            sub_namespace=metric.sub_namespace,
            level=level,
            enable_state="enable",
            evaluation_count=args.evaluation_count,
            effect_start_at="00:00",
            effect_end_at="23:59",
            silence_time=args.silence_minutes,
            regions=[args.region],
            alert_methods=methods,
            contact_group_ids=[self._group_id],
            multiple_conditions=False,
            condition_operator="||",
            conditions=[
                volcengine.cloud_monitor.RuleConditionArgs(
                    metric_name=metric.metric_name,
                    metric_unit=metric.unit,
                    statistics="avg",
                    comparison_operator=comparison,
                    threshold=str(threshold),
                )
            ],
            original_dimensions=[
                volcengine.cloud_monitor.RuleOriginalDimensionArgs(key=key, values=list(values))
                for key, values in dimensions.items()
            ],
            recovery_notify=volcengine.cloud_monitor.RuleRecoveryNotifyArgs(enable=True),
            opts=child(self),
        )
        self.rule_ids[label] = rule.id
