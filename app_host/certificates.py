"""The host's TLS certificate. Nginx always reads `<certificate_dir>/fullchain.pem` and
`privkey.pem`; this module decides what those are, so the certificate's source can change
without touching Nginx's configuration.

    placeholder  a short-lived self-signed certificate when there is none yet (Nginx needs one
                 to start before the real one exists)
    obtain       the real certificate, if not yet done: self-signed, or ACME through Certbot
    install      Certbot's deploy hook: point Nginx at the new lineage and reload gracefully
"""

from __future__ import annotations

import os
from pathlib import Path

from .config import HostConfig
from .system import log, run, systemctl

__all__ = ["install", "obtain", "placeholder", "self_signed"]


def self_signed(config: HostConfig, days: int) -> None:
    """A self-signed ECDSA certificate for the host's names, written atomically."""
    directory = config.certificate_dir
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    key_new, chain_new = directory / "privkey.pem.new", directory / "fullchain.pem.new"
    names = ",".join(f"DNS:{name}" for name in config.domains)
    run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-nodes", "-days", str(days), "-subj", f"/CN={config.primary_domain}",
            "-addext", f"subjectAltName={names}",
            "-keyout", str(key_new), "-out", str(chain_new),
        ],
        quiet=True,
    )  # fmt: skip
    key_new.chmod(0o600)
    for new, final in ((key_new, "privkey.pem"), (chain_new, "fullchain.pem")):
        os.replace(new, directory / final)


def reload_proxy() -> None:
    if systemctl("is-active", "--quiet", "nginx", check=False).returncode == 0:
        # reload, not restart: old workers finish their requests on the old certificate.
        systemctl("reload", "nginx")


def placeholder(config: HostConfig) -> None:
    if not (config.certificate_dir / "fullchain.pem").exists():
        log("no certificate yet: making a two-day placeholder")
        self_signed(config, 2)


def obtain(config: HostConfig) -> None:
    if config.certificate_kind == "self-signed":
        marker = config.certificate_dir / ".self-signed"
        if not marker.exists():
            self_signed(config, config.self_signed_days)
            marker.touch()
            reload_proxy()
        return
    if Path(f"/etc/letsencrypt/renewal/{config.app_name}.conf").exists():
        return
    env = dict(os.environ)
    if config.acme_ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = config.acme_ca_bundle
    domains = [arg for name in config.domains for arg in ("--domain", name)]
    run(
        [
            "certbot", "certonly", "--non-interactive", "--agree-tos", "--email", config.acme_email,
            "--server", config.acme_directory, "--webroot", "--webroot-path", str(config.acme_webroot),
            "--cert-name", config.app_name, "--key-type", "ecdsa", *domains,
            "--deploy-hook", "/usr/local/sbin/app-host certificate install",
        ],
        env=env,
    )  # fmt: skip


def install(config: HostConfig, lineage: str | None) -> None:
    if not lineage:
        raise SystemExit("certificate install runs as a Certbot deploy hook, which sets RENEWED_LINEAGE")
    directory = config.certificate_dir
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    for name in ("fullchain.pem", "privkey.pem"):
        link = directory / f".{name}.new"
        link.unlink(missing_ok=True)
        link.symlink_to(f"{lineage}/{name}")
        os.replace(link, directory / name)
    reload_proxy()
