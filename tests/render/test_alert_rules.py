"""The workspace's alerting rules under Prometheus's own rule tester (`promtool test rules`).

VMP evaluates a rule's PromQL and compares its value with the level's comparator and
threshold for the level's `for`; a Prometheus alert `(<query>) <comparator> <threshold>` with
the same `for` behaves alike, which is what promtool runs. The series and the alerts each
case expects are written here by hand from the thresholds below: a 10% 5xx share fires and
a 1% one does not, a trickle of errors below the traffic floor does not, and so on.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastapi_deploy.components.host_metrics import alert_rules, prometheus_rule_group

PROMTOOL = shutil.which("promtool")
pytestmark = pytest.mark.skipif(PROMTOOL is None, reason="needs promtool (Debian's prometheus; .ci/run installs it)")

RULES = alert_rules(error_percent=5, latency_p99_seconds=1.0, disk_free_percent=10, backup_max_age_hours=26)


def _series(name: str, labels: dict[str, str], values: str) -> dict[str, str]:
    inner = ",".join(f'{key}="{value}"' for key, value in sorted(labels.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


def _alerts(name: str, eval_time: str, *expected: dict[str, str]) -> dict[str, Any]:
    return {"eval_time": eval_time, "alertname": name, "exp_alerts": [{"exp_labels": labels} for labels in expected]}


def _promtool(tmp_path: Path, tests: list[dict[str, Any]]) -> subprocess.CompletedProcess[str]:
    group = prometheus_rule_group(RULES)
    # What the rules compute is under test, not their wording.
    for rule in group["rules"]:  # type: ignore[attr-defined]
        rule.pop("annotations")
    (tmp_path / "rules.yml").write_text(yaml.safe_dump({"groups": [group]}))
    (tmp_path / "tests.yml").write_text(
        yaml.safe_dump({"rule_files": ["rules.yml"], "evaluation_interval": "1m", "tests": tests})
    )
    assert PROMTOOL is not None
    checked = subprocess.run([PROMTOOL, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    return subprocess.run(
        [PROMTOOL, "test", "rules", str(tmp_path / "tests.yml")], capture_output=True, text=True, timeout=120
    )


def test_every_rule_is_one_vmp_accepts() -> None:
    # terraform-provider-volcengine 8cff1813, vmp_alerting_rule: the levels' validation.
    for rule in RULES:
        assert rule.level in ("P0", "P1", "P2") and rule.for_ in ("0s", "1m", "2m", "5m", "10m")
        assert rule.comparator in (">", ">=", "<", "<=", "==", "!=")
    assert len({rule.name for rule in RULES}) == len(RULES)


def test_requests_rules_fire_on_errors_and_slowness_with_traffic_only(tmp_path: Path) -> None:
    per_minute = {"2xx": 540, "5xx": 60}  # app "api": 10 requests/s, 10% of them 5xx
    series = [
        _series("nginx_requests_total", {"app": "api", "host": "a", "status_class": "2xx"}, f"0+{per_minute['2xx']}x30"),
        _series("nginx_requests_total", {"app": "api", "host": "a", "status_class": "5xx"}, f"0+{per_minute['5xx']}x30"),
        # 1% 5xx: under the threshold.
        _series("nginx_requests_total", {"app": "fine", "host": "b", "status_class": "2xx"}, "0+594x30"),
        _series("nginx_requests_total", {"app": "fine", "host": "b", "status_class": "5xx"}, "0+6x30"),
        # Every request fails, but 3 a minute (0.05/s) is under the traffic floor.
        _series("nginx_requests_total", {"app": "quiet", "host": "c", "status_class": "5xx"}, "0+3x30"),
        # app "api": 90% within 0.5 s, 10% between 1 and 2.5 s, so the p99 is above 1 s.
        *(
            _series("nginx_request_seconds_bucket", {"app": "api", "host": "a", "le": le}, f"0+{count}x30")
            for le, count in (("0.5", 540), ("1", 540), ("2.5", 600), ("+Inf", 600))
        ),
        # app "fine": everything within 0.5 s.
        *(
            _series("nginx_request_seconds_bucket", {"app": "fine", "host": "b", "le": le}, "0+600x30")
            for le in ("0.5", "1", "2.5", "+Inf")
        ),
    ]
    result = _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": series,
                "alert_rule_test": [
                    # Held for under 5 minutes: pending, nobody is told yet.
                    _alerts("http-5xx-ratio", "4m"),
                    _alerts("http-5xx-ratio", "15m", {"app": "api", "level": "P1"}),
                    _alerts("http-latency-p99", "4m"),
                    _alerts("http-latency-p99", "15m", {"app": "api", "level": "P2"}),
                ],
            }
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_host_rules_fire_on_a_full_disk_a_dead_exporter_and_silence(tmp_path: Path) -> None:
    gib = 2**30
    disks = [
        _series("node_filesystem_avail_bytes", {"app": "api", "host": "a", "mountpoint": "/"}, f"{5 * gib}x20"),
        _series("node_filesystem_size_bytes", {"app": "api", "host": "a", "mountpoint": "/"}, f"{100 * gib}x20"),
        _series("node_filesystem_avail_bytes", {"app": "api", "host": "b", "mountpoint": "/"}, f"{50 * gib}x20"),
        _series("node_filesystem_size_bytes", {"app": "api", "host": "b", "mountpoint": "/"}, f"{100 * gib}x20"),
        # Not the root disk: no alarm however full.
        _series("node_filesystem_avail_bytes", {"app": "api", "host": "b", "mountpoint": "/boot"}, "0x20"),
        _series("node_filesystem_size_bytes", {"app": "api", "host": "b", "mountpoint": "/boot"}, f"{gib}x20"),
    ]
    ups = [
        _series("up", {"app": "api", "host": "a", "job": "nginx"}, "1x20"),
        _series("up", {"app": "api", "host": "a", "job": "node"}, "1x20"),
        _series("up", {"app": "api", "host": "b", "job": "nginx"}, "1x20"),
        _series("up", {"app": "api", "host": "b", "job": "node"}, "0x20"),
    ]
    result = _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": disks + ups,
                "alert_rule_test": [
                    _alerts("host-disk-low", "10m", {"app": "api", "host": "a", "level": "P1"}),
                    _alerts("host-scrape-failing", "10m", {"app": "api", "host": "b", "job": "node", "level": "P2"}),
                    _alerts("hosts-not-reporting", "15m"),
                ],
            },
            {
                # Nothing arrives at all: only the silence rule can tell, after 10 minutes.
                "interval": "1m",
                "input_series": [],
                "alert_rule_test": [
                    _alerts("hosts-not-reporting", "9m"),
                    _alerts("hosts-not-reporting", "12m", {"job": "nginx", "level": "P2"}),
                ],
            },
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_backup_rules_fire_on_a_failure_after_the_newest_dump_and_on_an_old_dump(tmp_path: Path) -> None:
    def backup(app: str, success: int, ran_at: int, newest: int | None) -> list[dict[str, str]]:
        labels = {"app": app, "host": "a"}
        facts = [
            _series("app_backup_last_run_success", labels, f"{success}x60"),
            _series("app_backup_last_run_timestamp_seconds", labels, f"{ran_at}x60"),
        ]
        if newest is not None:
            facts.append(_series("app_backup_newest_dump_timestamp_seconds", labels, f"{newest}x60"))
        return facts

    failures = [
        *backup("failed-after-dump", 0, ran_at=200, newest=100),
        # Failed here, but another host dumped since (a newer dump): nothing to tell.
        *backup("dumped-since", 0, ran_at=200, newest=300),
        # Failed, and no dump exists at all.
        *backup("never-dumped", 0, ran_at=200, newest=None),
        *backup("fine", 1, ran_at=200, newest=150),
    ]
    day = 24 * 3600
    ages = [
        # Taken at time 0 and never since.
        *(_series(name, {"app": "stale", "host": "a"}, "0x1700") for name in ("app_backup_newest_dump_timestamp_seconds", "app_backup_last_run_timestamp_seconds")),
        _series("app_backup_last_run_success", {"app": "stale", "host": "a"}, "1x1700"),
        # A dump a day, the last one at most 24 h old.
        _series("app_backup_newest_dump_timestamp_seconds", {"app": "daily", "host": "a"}, f"0x1439 {day}x260"),
        _series("app_backup_last_run_timestamp_seconds", {"app": "daily", "host": "a"}, f"0x1439 {day}x260"),
        _series("app_backup_last_run_success", {"app": "daily", "host": "a"}, "1x1700"),
    ]
    result = _promtool(
        tmp_path,
        [
            {
                "interval": "1m",
                "input_series": failures,
                "alert_rule_test": [
                    _alerts(
                        "backup-failed",
                        "5m",
                        {"app": "failed-after-dump", "level": "P1"},
                        {"app": "never-dumped", "level": "P1"},
                    )
                ],
            },
            {
                "interval": "1m",
                "input_series": ages,
                "alert_rule_test": [
                    # 25 h: within the 26 h allowed.
                    _alerts("backup-missing", "25h"),
                    # Over 26 h for more than the rule's 10 minutes.
                    _alerts("backup-missing", "26h15m", {"app": "stale", "level": "P1"}),
                    _alerts("backup-failed", "26h15m"),
                ],
            },
        ],
    )
    assert result.returncode == 0, result.stdout + result.stderr
