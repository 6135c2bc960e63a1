"""Host metrics: a Volcengine Managed Prometheus (VMP) workspace the hosts' agents remote-write
to, and alerting rules on what users feel (5xx ratio, p99 latency) and on what keeps the
service alive (disk, backups, hosts that stop reporting), emailed to one contact.

CloudMonitor has no API to push custom metrics, so these live in VMP. Provider facts
(terraform-provider-volcengine 8cff1813, volcengine/vmp/, which pulumi-volcengine 0.0.47
wraps unchanged): a rule's level is P0/P1/P2 with `for` in 0s/1m/2m/5m/10m and a comparator
applied to what its PromQL returns; a notify group policy has exactly one level each of P0,
P1 and P2; only `instance_type_id` of the workspace forces a replacement.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pulumi
import pulumi_random as random
import pulumi_volcengine as volcengine
from pydantic import Field, field_validator

from fastapi_deploy.components._base import ComponentArgs, child, project_token, secret
from fastapi_deploy.components.monitoring import check_email
from fastapi_deploy.stack_model.volcengine_rules import VMP_LEVELS, VMP_WORKSPACE_TYPES

__all__ = [
    "AlertRule",
    "HostMetrics",
    "HostMetricsArgs",
    "alert_rules",
]

# Below this many requests a second (per app), a ratio or a quantile is a handful of
# requests: one slow or failed request at night would page someone.
MIN_REQUESTS_PER_SECOND = 0.1
# CreateWorkspace: username of letters, digits and '_'. The password's characters: letters,
# digits and these; the provider sends a password that already reads as Base64 unencoded, so
# its length is not a multiple of 4 (standard Base64 never decodes then).
_PASSWORD_SPECIALS = "!@#%^*()_+-="
_PASSWORD_LENGTH = 30


@dataclass(frozen=True)
class AlertRule:
    """One VMP alerting rule: it fires at `level` when `prom_ql`'s value, compared with
    `comparator` to `threshold`, holds for `for_`."""

    name: str
    summary: str
    prom_ql: str
    comparator: str
    threshold: float
    for_: str
    level: str


def _guarded(expression: str) -> str:
    # Only while the app sees real traffic (see MIN_REQUESTS_PER_SECOND).
    return (
        f"({expression}) and on (app) "
        f"(sum by (app) (rate(nginx_requests_total[5m])) >= {MIN_REQUESTS_PER_SECOND})"
    )


def alert_rules(
    *,
    error_percent: float,
    latency_p99_seconds: float,
    disk_free_percent: int,
    backup_max_age_hours: int | None,
) -> tuple[AlertRule, ...]:
    """The rules, from the stack's thresholds; `backup_max_age_hours` None: no dumps, no rules
    on them. Series come from app_host.metrics (labels `host`, `app`)."""
    rules = [
        AlertRule(
            "http-5xx-ratio",
            f"More than {error_percent:g}% of requests answered 5xx over 5 minutes",
            _guarded(
                'sum by (app) (rate(nginx_requests_total{status_class="5xx"}[5m]))'
                " / sum by (app) (rate(nginx_requests_total[5m]))"
            ),
            ">",
            error_percent / 100,
            "5m",
            "P1",
        ),
        AlertRule(
            "http-latency-p99",
            f"The slowest 1% of requests took over {latency_p99_seconds:g} s over 5 minutes",
            _guarded("histogram_quantile(0.99, sum by (app, le) (rate(nginx_request_seconds_bucket[5m])))"),
            ">",
            latency_p99_seconds,
            "5m",
            "P2",
        ),
        AlertRule(
            "host-disk-low",
            f"A host's root disk has under {disk_free_percent}% free",
            'min by (app, host) (node_filesystem_avail_bytes{mountpoint="/"}'
            ' / node_filesystem_size_bytes{mountpoint="/"})',
            "<",
            disk_free_percent / 100,
            "5m",
            "P1",
        ),
        AlertRule(
            "hosts-not-reporting",
            "No host has sent metrics for 10 minutes (agents down, or the workspace unreachable)",
            'absent(up{job="nginx"})',
            ">=",
            1,
            "10m",
            "P2",
        ),
        AlertRule(
            "host-scrape-failing",
            "A host's agent cannot read its own exporters (mtail or the node exporter down)",
            "min by (app, host, job) (up)",
            "<",
            1,
            "5m",
            "P2",
        ),
    ]
    if backup_max_age_hours is not None:
        # No dump at all yet, but a run happened: the dump time counts as the epoch.
        newest = (
            "(max by (app) (app_backup_newest_dump_timestamp_seconds)"
            " or max by (app) (app_backup_last_run_timestamp_seconds) * 0)"
        )
        rules += [
            AlertRule(
                "backup-failed",
                "A database backup run failed after the newest dump was taken",
                "max by (app) ((1 - app_backup_last_run_success) * app_backup_last_run_timestamp_seconds)"
                f" - {newest}",
                ">",
                0,
                "0s",
                "P1",
            ),
            AlertRule(
                "backup-missing",
                f"The newest database dump is older than {backup_max_age_hours} hours",
                f"time() - {newest}",
                ">",
                backup_max_age_hours * 3600,
                "10m",
                "P1",
            ),
        ]
    return tuple(rules)


def prometheus_rule_group(rules: tuple[AlertRule, ...]) -> dict[str, object]:
    """The same rules as a Prometheus rule group (what `promtool test rules` reads): VMP
    applies the comparator to the query's value, as `(<query>) <comparator> <threshold>`."""
    return {
        "name": "host-metrics",
        "rules": [
            {
                "alert": rule.name,
                "expr": f"({rule.prom_ql}) {rule.comparator} {rule.threshold!r}",
                "for": rule.for_,
                "labels": {"level": rule.level},
                "annotations": {"summary": rule.summary},
            }
            for rule in rules
        ],
    }


def _resource_name(value: str) -> str:
    # Contact names: letters, digits, '-' and '_', not starting with a digit or a sign.
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "-", value).lstrip("0123456789-_")
    return (cleaned or "ops")[:100]


class HostMetricsArgs(ComponentArgs):
    contact_email: str = Field(description="Email that receives the alerts. Required.")
    contact_name: str = Field(default="ops", min_length=1, description="Contact name. Default ops.")
    workspace_type: str = Field(
        default="vmp.standard.15d", description="VMP instance type, which sets the retention. Default 15 days."
    )
    error_percent: float = Field(
        default=5, gt=0, le=100, description="5xx share of requests that alerts. Default 5."
    )
    latency_p99_seconds: float = Field(
        default=1.0, gt=0, le=60, description="p99 request time (s) that alerts. Default 1.0."
    )
    disk_free_percent: int = Field(
        default=10, ge=1, le=90, description="Free root disk (%) under which a host alerts. Default 10."
    )
    backup_max_age_hours: int | None = Field(
        default=None, ge=1, description="Oldest acceptable newest dump (h). Default None: no backup rules."
    )

    @field_validator("workspace_type")
    @classmethod
    def _workspace_type(cls, value: str) -> str:
        if value not in VMP_WORKSPACE_TYPES:
            raise ValueError(f"workspace_type={value!r}: VMP offers {', '.join(VMP_WORKSPACE_TYPES)}")
        return value

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str) -> str:
        return check_email("contact_email", value)


class HostMetrics(pulumi.ComponentResource):
    """A VMP workspace with a login for the hosts, its alerting rules and who they notify.

    On delete: the workspace and its samples go (no delete protection: the stack owns it).
    """

    workspace_id: pulumi.Output[str]
    write_url: pulumi.Output[str]
    username: str
    password: pulumi.Output[str]
    rule_ids: dict[str, pulumi.Output[str]]

    def __init__(self, name: str, args: HostMetricsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("monitoring", "HostMetrics"), name, None, opts)
        # Rule and contact names are unique in the account, which several stacks may share.
        prefix = f"{pulumi.get_stack()}-{name}"
        self.username = re.sub(r"[^A-Za-z0-9_]", "_", f"{name}_hosts")
        password = random.RandomPassword(
            f"{name}-write-password",
            length=_PASSWORD_LENGTH,
            special=True,
            override_special=_PASSWORD_SPECIALS,
            min_upper=2,
            min_lower=2,
            min_numeric=2,
            min_special=2,
            opts=child(self),
        )
        self.password = secret(password.result)
        workspace = volcengine.vmp.Workspace(
            f"{name}-workspace",
            name=prefix[:100],
            description="Metrics of the app hosts (fastapi-deploy)",
            instance_type_id=args.workspace_type,
            username=self.username,
            password=self.password,
            delete_protection_enabled=False,
            opts=child(self),
        )
        contact = volcengine.vmp.Contact(
            f"{name}-contact",
            name=_resource_name(f"{prefix}-{args.contact_name}"),
            email=args.contact_email,
            opts=child(self),
        )
        group = volcengine.vmp.ContactGroup(
            f"{name}-contacts", name=_resource_name(f"{prefix}-contacts"), contact_ids=[contact.id], opts=child(self)
        )
        notify = volcengine.vmp.NotifyPolicy(
            f"{name}-notify",
            name=_resource_name(f"{prefix}-notify"),
            levels=[
                volcengine.vmp.NotifyPolicyLevelArgs(
                    level=level, contact_group_ids=[group.id], channels=["Email"], resolved_channels=["Email"]
                )
                for level in VMP_LEVELS
            ],
            opts=child(self),
        )
        grouping = volcengine.vmp.NotifyGroupPolicy(
            f"{name}-grouping",
            name=_resource_name(f"{prefix}-grouping"),
            levels=[
                # One mail per rule: wait 30 s for its siblings, then at most every 5 min for
                # changes and every 4 h while it keeps firing.
                volcengine.vmp.NotifyGroupPolicyLevelArgs(
                    level=level, group_bies=["__rule__"], group_wait="30", group_interval="300", repeat_interval="14400"
                )
                for level in VMP_LEVELS
            ],
            opts=child(self),
        )
        self.rule_ids = {}
        for rule in alert_rules(
            error_percent=args.error_percent,
            latency_p99_seconds=args.latency_p99_seconds,
            disk_free_percent=args.disk_free_percent,
            backup_max_age_hours=args.backup_max_age_hours,
        ):
            created = volcengine.vmp.AlertingRule(
                f"{name}-{rule.name}",
                name=_resource_name(f"{prefix}-{rule.name}"),
                description=rule.summary,
                query=volcengine.vmp.AlertingRuleQueryArgs(workspace_id=workspace.id, prom_ql=rule.prom_ql),
                levels=[
                    volcengine.vmp.AlertingRuleLevelArgs(
                        level=rule.level, comparator=rule.comparator, threshold=rule.threshold, for_=rule.for_
                    )
                ],
                notify_policy_id=notify.id,
                notify_group_policy_id=grouping.id,
                opts=child(self),
            )
            self.rule_ids[rule.name] = created.id
        self.workspace_id = workspace.id
        self.write_url = workspace.prometheus_write_intranet_endpoint
        self.register_outputs({"workspace_id": self.workspace_id, "write_url": self.write_url})
