"""The host's settings, as the user data wrote them.

`/etc/app-host/host.conf` (world-readable) and `/etc/app-host/store.conf` (root only: it holds
the store's keys) are shell-style `NAME=value` files, quoted with `shlex`, so the few lines of
shell that run before Python exists can source them too.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "HOST_CONF",
    "JOURNAL_UPLOAD_CONF",
    "METRICS_CONF",
    "STORE_CONF",
    "TOOL",
    "WORKER_MARKERS_ENV",
    "ConfigError",
    "HostConfig",
    "MetricsConfig",
    "StoreConfig",
    "read_assignments",
]

# The tooling itself (the zipapp); units and Certbot's hooks call it by this path.
TOOL = "/usr/local/sbin/app-host"
# Where each gunicorn worker of a slot leaves a file once it has imported the app (set by
# the slot's unit; read by the release tooling before it switches).
WORKER_MARKERS_ENV = "APP_HOST_WORKER_MARKERS"
HOST_CONF = Path("/etc/app-host/host.conf")
STORE_CONF = Path("/etc/app-host/store.conf")
# Present when the stack ships the hosts' journals (the user data writes it).
JOURNAL_UPLOAD_CONF = Path("/etc/systemd/journal-upload.conf.d/10-app-host.conf")
# Root only, present when the stack ships the hosts' metrics (it holds the write password).
METRICS_CONF = Path("/etc/app-host/metrics.conf")


class ConfigError(Exception):
    """A settings file is missing or lacks a setting the command needs."""


def read_assignments(path: Path) -> dict[str, str]:
    """NAME=value lines of `path`; blank lines and comments are skipped."""
    try:
        text = path.read_text()
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    values: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        words = shlex.split(stripped)
        if len(words) != 1 or "=" not in words[0]:
            raise ConfigError(f"{path}:{number} is not NAME=value")
        name, _, value = words[0].partition("=")
        values[name] = value
    return values


def _require(values: dict[str, str], path: Path | str, name: str) -> str:
    try:
        return values[name]
    except KeyError:
        raise ConfigError(f"{path} has no {name}") from None


@dataclass(frozen=True)
class HostConfig:
    """What this host runs: the app, its names and where its certificate comes from."""

    app_name: str
    domains: tuple[str, ...]
    certificate_kind: str
    certificate_dir: Path
    acme_webroot: Path
    acme_directory: str
    acme_email: str
    acme_ca_bundle: str
    self_signed_days: int
    certificate_renew_days: int
    certificate_sync_seconds: int
    # What the release tooling asks a new slot before switching, and whether it migrates.
    readiness_path: str = "/readyz"
    migration: bool = False
    # The load balancer's health-check port (0: not behind one) and what the gate asks the app.
    health_gate_port: int = 0
    health_probe_path: str = "/healthz"
    # Where the database dumps go ('' : no dumps) and when (a systemd OnCalendar expression).
    backup_prefix: str = ""
    backup_schedule: str = ""

    @classmethod
    def load(cls, path: Path = HOST_CONF) -> HostConfig:
        values = read_assignments(path)

        def get(name: str) -> str:
            return _require(values, path, name)

        return cls(
            app_name=get("APP_NAME"),
            domains=tuple(get("DOMAINS").split()),
            certificate_kind=get("CERTIFICATE_KIND"),
            certificate_dir=Path(get("CERTIFICATE_DIR")),
            acme_webroot=Path(get("ACME_WEBROOT")),
            acme_directory=values.get("ACME_DIRECTORY", ""),
            acme_email=values.get("ACME_EMAIL", ""),
            acme_ca_bundle=values.get("ACME_CA_BUNDLE", ""),
            self_signed_days=int(values.get("SELF_SIGNED_DAYS") or 0),
            certificate_renew_days=int(values.get("CERTIFICATE_RENEW_DAYS") or 30),
            certificate_sync_seconds=int(values.get("CERTIFICATE_SYNC_SECONDS") or 60),
            readiness_path=values.get("READINESS_PATH") or "/readyz",
            migration=values.get("MIGRATION") == "yes",
            health_gate_port=int(values.get("HEALTH_GATE_PORT") or 0),
            health_probe_path=values.get("HEALTH_PROBE_PATH") or "/healthz",
            backup_prefix=values.get("BACKUP_PREFIX", ""),
            backup_schedule=values.get("BACKUP_SCHEDULE", ""),
        )

    @property
    def primary_domain(self) -> str:
        return self.domains[0]

    @property
    def env_file(self) -> Path:
        """The app's environment file (it holds DATABASE_URL)."""
        return Path(f"/etc/{self.app_name}/env")


@dataclass(frozen=True)
class StoreConfig:
    """Where the shared store is (the stack's bucket, or a directory on a dev host)."""

    kind: str
    path: Path
    endpoint_url: str
    bucket: str
    region: str
    addressing_style: str
    access_key_id: str
    secret_access_key: str

    @classmethod
    def load(cls, path: Path = STORE_CONF) -> StoreConfig:
        return cls.from_values(read_assignments(path), path)

    @classmethod
    def from_values(cls, values: dict[str, str], path: Path | str) -> StoreConfig:
        """From STORE_* settings; `path` names where they came from in errors."""
        kind = _require(values, path, "STORE_KIND")
        if kind not in ("s3", "local"):
            raise ConfigError(f"{path}: STORE_KIND={kind!r} is neither s3 nor local")
        if kind == "s3":
            for name in (
                "STORE_ENDPOINT_URL",
                "STORE_BUCKET",
                "STORE_ACCESS_KEY_ID",
                "STORE_SECRET_ACCESS_KEY",
            ):
                _require(values, path, name)
        return cls(
            kind=kind,
            path=Path(values.get("STORE_PATH") or "/var/lib/app-host/store"),
            endpoint_url=values.get("STORE_ENDPOINT_URL", ""),
            bucket=values.get("STORE_BUCKET", ""),
            region=values.get("STORE_REGION", ""),
            addressing_style=values.get("STORE_ADDRESSING_STYLE") or "virtual",
            access_key_id=values.get("STORE_ACCESS_KEY_ID", ""),
            secret_access_key=values.get("STORE_SECRET_ACCESS_KEY", ""),
        )

    def __repr__(self) -> str:
        # Never show the secret key, even in a traceback.
        return f"StoreConfig(kind={self.kind!r}, bucket={self.bucket!r}, endpoint_url={self.endpoint_url!r})"


@dataclass(frozen=True)
class MetricsConfig:
    """Where the host's metrics agent writes: a Prometheus remote-write URL and its login."""

    write_url: str
    username: str
    password: str

    @classmethod
    def load(cls, path: Path = METRICS_CONF) -> MetricsConfig | None:
        """The settings, or None when the stack ships no metrics (no file)."""
        if not path.exists():
            return None
        values = read_assignments(path)
        return cls(
            write_url=_require(values, path, "METRICS_WRITE_URL"),
            username=_require(values, path, "METRICS_USERNAME"),
            password=_require(values, path, "METRICS_PASSWORD"),
        )

    def __repr__(self) -> str:
        return f"MetricsConfig(write_url={self.write_url!r}, username={self.username!r})"
