"""First boot of an app host: cloud-init's runcmd calls `app-host bootstrap` once per instance,
after the packages are installed and this tooling was fetched. Everything later (reboots,
crashes, renewals) is systemd's job.
"""

from __future__ import annotations

import datetime
import subprocess
from pathlib import Path

from . import metrics, release, tls
from .backup import newest_dump
from .config import JOURNAL_UPLOAD_CONF, TOOL, HostConfig, MetricsConfig, StoreConfig
from .host_files import install_host_files
from .store import open_store
from .system import CommandFailed, atomic_write, log, run, systemctl, warn
from .units import HEALTH_GATE_UNIT, RELEASE_TIMER, tooling_units

__all__ = ["bootstrap"]

UNIT_DIR = Path("/etc/systemd/system")
# How long a booting host waits for another host that is ordering the fleet's certificate.
ISSUER_WAIT_SECONDS = 600


def install_units(config: HostConfig) -> list[str]:
    units = tooling_units(config)
    for name, text in units.items():
        atomic_write(UNIT_DIR / name, text.encode())
    systemctl("daemon-reload")
    return sorted(units)


def start_app(config: HostConfig) -> None:
    """The current release into the first slot, then the timer that follows later ones."""
    try:
        with release.host_lock():
            release.first_release(config, open_store(StoreConfig.load()))
    finally:
        # After a failure too: the timer tries the first release again and keeps reporting.
        systemctl("enable", "--now", RELEASE_TIMER)


def start_proxy(config: HostConfig) -> None:
    Path("/etc/nginx/sites-enabled/default").unlink(missing_ok=True)
    link = Path(f"/etc/nginx/sites-enabled/{config.app_name}.conf")
    link.unlink(missing_ok=True)
    link.symlink_to(f"/etc/nginx/sites-available/{config.app_name}.conf")
    config.acme_webroot.mkdir(mode=0o755, parents=True, exist_ok=True)
    if config.certificate_kind == "self-signed":
        if tls.installed(config) in (None, tls.PLACEHOLDER):
            tls.self_signed(config, config.self_signed_days, "self-signed")
    else:
        # Nginx needs a certificate before the real one exists: a short-lived placeholder.
        tls.placeholder(config)
    start_metrics(config)
    run(["nginx", "-t"])
    systemctl("enable", "nginx")
    systemctl("restart", "nginx")


def start_metrics(config: HostConfig) -> None:
    """mtail, tailing Nginx's per-request numbers (the file exists before either starts), and,
    when the stack ships metrics, the agent that sends them and the host's facts away."""
    stream = Path("/var/log/nginx/metrics.stream")
    if not stream.exists():
        stream.touch(mode=0o644)
    systemctl("daemon-reload")
    systemctl("enable", "mtail")
    systemctl("restart", "mtail", "logrotate.timer")
    shipping = MetricsConfig.load()
    if shipping is None:
        return
    if config.backup_prefix:
        # A new host tells the newest dump at once, not only after its first scheduled run.
        metrics.backup_status(
            None,
            newest_dump(open_store(StoreConfig.load()), config.backup_prefix),
            datetime.datetime.now(datetime.UTC),
        )
    metrics.start_shipping(shipping, release.host_id(), config.app_name)


def obtain_certificate(config: HostConfig) -> None:
    """The fleet's certificate: from the store if another host already has it, else ordered
    by this host, or by whichever host holds the lock while this one waits for it."""
    if config.certificate_kind != "acme":
        return
    systemctl("enable", "--now", "app-host-acme-responder.socket")
    try:
        run([TOOL, "tls", "renew", "--wait", str(ISSUER_WAIT_SECONDS)], timeout=ISSUER_WAIT_SECONDS + 600)
    except (CommandFailed, subprocess.TimeoutExpired) as error:
        # Not fatal: the placeholder serves, and the timer tries again (DNS may not point
        # here yet, or the CA may be down).
        warn(f"no certificate yet ({error}); app-host-tls-renew.timer retries")
    finally:
        # Whatever the first try did, the timers are what keep the host's certificate right.
        systemctl("enable", "--now", "app-host-tls-sync.timer", "app-host-tls-renew.timer")


def bootstrap(config: HostConfig) -> None:
    install_host_files()
    systemctl("restart", "systemd-journald")
    systemctl("try-reload-or-restart", "ssh.service", check=False)
    log(f"tooling units: {', '.join(install_units(config)) or 'none'}")
    if JOURNAL_UPLOAD_CONF.exists():
        # The package also brings the receiving end, enabled: an app host listens on nothing
        # but Nginx's ports (and SSH).
        systemctl("disable", "--now", "systemd-journal-remote.socket", "systemd-journal-remote.service", check=False)
        # First, so that the rest of this boot (and a failure of it) reaches the collector.
        systemctl("enable", "--now", "systemd-journal-upload.service")
    try:
        start_app(config)
        app_failure = None
    except release.ReleaseFailed as error:
        # The rest of the host still comes up (Nginx answers 502, the gate stays closed), so
        # that the timer's next try of the release is all it takes to serve.
        app_failure = error
        warn(f"the app did not start: {error}; app-host-release.timer tries again")
    start_proxy(config)
    if config.health_gate_port:
        # Opens its port once the app answers through Nginx: until then the load balancer
        # sends this host nothing.
        systemctl("enable", "--now", HEALTH_GATE_UNIT)
    obtain_certificate(config)
    if config.backup_prefix:
        # Last, and not fatal: a schedule systemd refuses must not leave the host without
        # its certificate or its app.
        try:
            systemctl("enable", "--now", "app-host-backup.timer")
        except CommandFailed as error:
            warn(f"database dumps are not scheduled ({error})")
    if app_failure is not None:
        # cloud-init reports the boot as failed; the host's release report says why.
        raise app_failure
    log("done")
