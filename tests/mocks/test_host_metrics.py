"""The metrics workspace and its alerts under mocks: the hosts get the workspace's own endpoint
and login (as secrets), the rules hang on the stack's workspace and notification chain, and
the shapes the provider validates (terraform-provider-volcengine 8cff1813, volcengine/vmp/)
are kept."""

from __future__ import annotations

from tests.mocks.harness import run_main, shell_settings, written_files

WORKSPACE = "volcengine:vmp/workspace:Workspace"
RULE = "volcengine:vmp/alertingRule:AlertingRule"
CONFIGURATION = "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"


def test_hosts_write_to_the_stacks_workspace_with_its_login_kept_secret() -> None:
    run = run_main("prod")
    workspace = run.one(WORKSPACE)
    assert workspace.is_secret("password")
    password = run.named("app-metrics-write-password")
    # The provider passes a password that decodes as Base64 on unencoded
    # (service_volcengine_vmp_workspace.go); standard Base64 needs a multiple of 4 characters.
    assert password.inputs["length"] % 4 != 0
    configuration = run.one(CONFIGURATION)
    assert configuration.is_secret("userData")
    settings = shell_settings(written_files(configuration)["/etc/app-host/metrics.conf"])
    assert settings == {
        "METRICS_WRITE_URL": "http://write.prometheus-cn-beijing.ivolces.com/workspaces/app-metrics-workspace-id",
        "METRICS_USERNAME": workspace.inputs["username"],
        # The mocks' RandomPassword answer, cut to the asked length.
        "METRICS_PASSWORD": ("Mock-Pw_0123456789abcdefghijklmnopqrstuvwxyz" * 3)[:30],
    }
    assert workspace.inputs["instanceTypeId"] == "vmp.standard.15d"


def test_rules_use_the_workspace_and_one_notification_chain_to_the_alarm_contact() -> None:
    run = run_main("prod")
    rules = run.of_type(RULE)
    assert sorted(rule.name.removeprefix("app-metrics-") for rule in rules) == sorted(
        ["http-5xx-ratio", "http-latency-p99", "host-disk-low", "hosts-not-reporting", "host-scrape-failing",
         "backup-failed", "backup-missing"]
    )  # fmt: skip
    for rule in rules:
        assert rule.inputs["query"]["workspaceId"] == "app-metrics-workspace-id"
        assert rule.inputs["notifyPolicyId"] == "app-metrics-notify-id"
        assert rule.inputs["notifyGroupPolicyId"] == "app-metrics-grouping-id"
        # Unique in the account, which other stacks share.
        assert rule.inputs["name"].startswith("prod-app-metrics-")
    grouping = run.one("volcengine:vmp/notifyGroupPolicy:NotifyGroupPolicy")
    # MinItems = MaxItems = 3 in the provider's schema: P0, P1 and P2 once each.
    assert sorted(level["level"] for level in grouping.inputs["levels"]) == ["P0", "P1", "P2"]
    assert {tuple(level["groupBies"]) for level in grouping.inputs["levels"]} == {("__rule__",)}
    notify = run.one("volcengine:vmp/notifyPolicy:NotifyPolicy")
    assert {level["level"] for level in notify.inputs["levels"]} >= {rule.inputs["levels"][0]["level"] for rule in rules}
    assert all(level["contactGroupIds"] == ["app-metrics-contacts-id"] for level in notify.inputs["levels"])
    contact = run.one("volcengine:vmp/contact:Contact")
    assert contact.inputs["email"] == run.one("volcengine:cloud_monitor/contact:Contact").inputs["email"]
    assert run.one("volcengine:vmp/contactGroup:ContactGroup").inputs["contactIds"] == ["app-metrics-contact-id"]


def test_no_backup_rules_without_dumps_and_nothing_with_host_metrics_off() -> None:
    without_dumps = run_main("prod", {"backupSchedule": "off"})
    assert not any("backup" in rule.name for rule in without_dumps.of_type(RULE))
    assert len(without_dumps.of_type(RULE)) == 5
    off = run_main("prod", {"hostMetrics": False})
    assert not [item for item in off.registrations if item.type.startswith("volcengine:vmp/")]
    files = written_files(off.one(CONFIGURATION))
    assert "/etc/app-host/metrics.conf" not in files and "/etc/default/prometheus" not in files
    # The dev stack keeps its numbers on the host.
    dev = run_main("dev")
    assert not [item for item in dev.registrations if item.type.startswith("volcengine:vmp/")]
