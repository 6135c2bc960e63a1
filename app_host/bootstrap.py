"""First boot of an app host: cloud-init's runcmd calls `app-host bootstrap` once per instance,
after the packages are installed and this tooling was fetched. Everything later (reboots,
crashes, renewals) is systemd's job.
"""

from __future__ import annotations

from pathlib import Path

from . import certificates
from .artifacts import fetch_artifact
from .config import HostConfig, StoreConfig
from .store import open_store
from .system import log, run, systemctl

__all__ = ["REQUIREMENTS", "bootstrap"]

REQUIREMENTS = Path("/etc/app-host/requirements.txt")


def install_app(config: HostConfig) -> None:
    if config.app_artifact_key:
        # The app itself is a file from the store, pinned by its digest; the requirements file
        # names it at this path.
        fetch_artifact(open_store(StoreConfig.load()), config.app_artifact_key, config.app_artifact_sha256)
    log(f"installing {config.app_name} into {config.venv_dir}")
    run(["python3", "-m", "venv", str(config.venv_dir)])
    # The index and its trust come from the requirements file, written by the renderer.
    run(
        [
            str(config.venv_dir / "bin" / "pip"), "install", "--no-cache-dir",
            "--disable-pip-version-check", "--requirement", str(REQUIREMENTS),
        ]
    )  # fmt: skip
    # The service user runs the code but may not change it.
    run(["chown", "-R", "root:root", str(config.venv_dir)], quiet=True)
    run(["chmod", "-R", "go-w", str(config.venv_dir)], quiet=True)


def start_app(config: HostConfig) -> None:
    systemctl("daemon-reload")
    systemctl("enable", "--now", f"{config.app_name}.socket")
    # Pulls in the migration unit first (Requires/After); fails here if the app cannot start.
    systemctl("enable", "--now", f"{config.app_name}.service")


def start_proxy(config: HostConfig) -> None:
    Path("/etc/nginx/sites-enabled/default").unlink(missing_ok=True)
    link = Path(f"/etc/nginx/sites-enabled/{config.app_name}.conf")
    link.unlink(missing_ok=True)
    link.symlink_to(f"/etc/nginx/sites-available/{config.app_name}.conf")
    config.acme_webroot.mkdir(mode=0o755, parents=True, exist_ok=True)
    # Nginx needs a certificate before the real one exists: a short-lived placeholder.
    certificates.placeholder(config)
    run(["nginx", "-t"])
    systemctl("enable", "nginx")
    systemctl("restart", "nginx")


def obtain_certificate(config: HostConfig) -> None:
    systemctl("enable", f"{config.app_name}-certificate.timer")
    systemctl("start", f"{config.app_name}-certificate.timer")
    systemctl("start", f"{config.app_name}-certificate.service")
    if config.certificate_kind == "acme":
        systemctl("enable", "--now", "certbot.timer")


def bootstrap(config: HostConfig) -> None:
    systemctl("restart", "systemd-journald")
    systemctl("try-reload-or-restart", "ssh.service", check=False)
    install_app(config)
    start_app(config)
    start_proxy(config)
    obtain_certificate(config)
    log("done")
