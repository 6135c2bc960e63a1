"""The host's numbers leave it: Debian's Prometheus in agent mode scrapes mtail (requests, 5xx,
latency) and the node exporter (disk, memory, and the tooling's own facts written as text
files), and remote-writes them to the stack's managed Prometheus.

Everything listens on loopback only; the security group is not involved. Without
/etc/app-host/metrics.conf (a stack that ships no metrics) nothing here starts.
"""

from __future__ import annotations

import datetime
import json
from pathlib import Path

from .config import MetricsConfig
from .system import atomic_write, systemctl, warn

__all__ = [
    "AGENT_CONFIG",
    "NODE_EXPORTER_DEFAULTS",
    "PROMETHEUS_DEFAULTS",
    "PROMETHEUS_DROP_IN",
    "TEXTFILE_DIR",
    "agent_config",
    "backup_status",
    "start_shipping",
    "write_textfile",
]

AGENT_CONFIG = Path("/etc/prometheus/agent.yml")
PASSWORD_FILE = Path("/etc/prometheus/remote-write.password")
# The node exporter's text-file directory (Debian's default): `*.prom` files there are served
# with its own metrics; a name starting with "." (atomic_write's temporary) is not read.
TEXTFILE_DIR = Path("/var/lib/prometheus/node-exporter")
SCRAPE_INTERVAL = "15s"
# What the agent scrapes; mtail's port is in host_files.MTAIL_DEFAULTS.
SCRAPE_TARGETS = {"nginx": "127.0.0.1:3903", "node": "127.0.0.1:9100"}

# The packages' units read these. The user data writes them before the packages are
# installed, so even the first start (by the package itself) listens on loopback only: the
# defaults are 0.0.0.0:9090 and :9100. Agent mode keeps no database and answers no queries;
# its write-ahead log holds up to a day while the workspace is unreachable.
PROMETHEUS_DEFAULTS = f"""\
# Managed by app-host (the host tooling).
ARGS="--enable-feature=agent --config.file={AGENT_CONFIG} --storage.agent.path=/var/lib/prometheus/agent --storage.agent.retention.max-time=24h --web.listen-address=127.0.0.1:9090"
"""
NODE_EXPORTER_DEFAULTS = f"""\
# Managed by app-host (the host tooling). Only what the alarms use: disks, memory, text files.
ARGS="--web.listen-address=127.0.0.1:9100 --collector.disable-defaults --collector.filesystem --collector.meminfo --collector.textfile --collector.textfile.directory={TEXTFILE_DIR}"
"""
# Both: back at once if they die (the packages restart on failure only, and give up after 5).
PROMETHEUS_DROP_IN = """\
# Managed by app-host (the host tooling).
[Service]
Restart=always
RestartSec=5s
"""


def agent_config(host: str, app_name: str, config: MetricsConfig) -> str:
    """The agent's configuration (JSON, which Prometheus reads as YAML): every series carries
    the host's id and the app's name, so the workspace's rules can tell hosts apart."""
    document = {
        "global": {"scrape_interval": SCRAPE_INTERVAL, "external_labels": {"host": host, "app": app_name}},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in SCRAPE_TARGETS.items()
        ],
        "remote_write": [
            {
                "url": config.write_url,
                "basic_auth": {"username": config.username, "password_file": str(PASSWORD_FILE)},
            }
        ],
    }
    return "# Managed by app-host (the host tooling).\n" + json.dumps(document, indent=1) + "\n"


def start_shipping(config: MetricsConfig, host: str, app_name: str) -> None:
    """Write the agent's settings (the password readable by its group only) and (re)start the
    exporter and the agent."""
    atomic_write(PASSWORD_FILE, config.password.encode(), mode=0o440, group="prometheus")
    atomic_write(AGENT_CONFIG, agent_config(host, app_name, config).encode())
    for unit in ("prometheus", "prometheus-node-exporter"):
        atomic_write(Path(f"/etc/systemd/system/{unit}.service.d/10-app-host.conf"), PROMETHEUS_DROP_IN.encode())
    # The package's own first start failed without the agent's file; clear its start limit.
    systemctl("reset-failed", "prometheus.service", "prometheus-node-exporter.service", check=False)
    systemctl("daemon-reload")
    systemctl("enable", "prometheus-node-exporter", "prometheus")
    systemctl("restart", "prometheus-node-exporter", "prometheus")


def write_textfile(name: str, samples: dict[str, float], helps: dict[str, str]) -> bool:
    """`samples` as `<TEXTFILE_DIR>/<name>.prom` for the node exporter; False when there is no
    exporter on this host (a stack without metrics), which is not an error, or when the file
    cannot be written, which is only told: what it reports must never fail."""
    if not TEXTFILE_DIR.is_dir():
        return False
    lines = []
    for metric, value in samples.items():
        lines += [f"# HELP {metric} {helps[metric]}", f"# TYPE {metric} gauge", f"{metric} {value:.17g}"]
    try:
        atomic_write(TEXTFILE_DIR / f"{name}.prom", ("\n".join(lines) + "\n").encode())
    except OSError as error:
        warn(f"the metrics file {name}.prom was not written: {error}")
        return False
    return True


BACKUP_HELP = {
    "app_backup_last_run_success": "1 if this host's last backup run ended well (dumped, or found a fresh dump), else 0.",
    "app_backup_last_run_timestamp_seconds": "When this host's last backup run ended.",
    "app_backup_newest_dump_timestamp_seconds": "When the newest dump in the store was taken, as this host last saw it.",
}


def backup_status(ok: bool | None, newest_created: str | None, now: datetime.datetime) -> bool:
    """What the backup alarms read. `ok` None: no run (the boot's look at the store); a dump
    time None: not known this time (the store unreachable, or no dump yet). What is not known
    keeps the value this host wrote last."""
    samples = _read_samples(TEXTFILE_DIR / "app_backup.prom")
    if ok is not None:
        samples["app_backup_last_run_success"] = 1 if ok else 0
        samples["app_backup_last_run_timestamp_seconds"] = now.timestamp()
    if newest_created is not None:
        samples["app_backup_newest_dump_timestamp_seconds"] = datetime.datetime.fromisoformat(
            newest_created
        ).timestamp()
    return write_textfile(
        "app_backup", {name: samples[name] for name in BACKUP_HELP if name in samples}, BACKUP_HELP
    )


def _read_samples(path: Path) -> dict[str, float]:
    try:
        text = path.read_text()
    except OSError:
        return {}
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            samples[name] = float(value)
    return samples
