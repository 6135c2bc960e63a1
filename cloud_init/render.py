"""An app-host spec -> the #cloud-config user data that turns a bare Debian VM into the host.

Pure: no Pulumi, no I/O besides reading the static tooling shipped beside this module.
"""

from __future__ import annotations

import base64
import gzip
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from urllib.parse import urlsplit

import yaml

from fastapi_deploy.app_host import metrics as host_metrics
from fastapi_deploy.app_host.config import JOURNAL_UPLOAD_CONF
from fastapi_deploy.app_host.release import ReleaseRecord
from fastapi_deploy.artifacts import tooling_ref
from fastapi_deploy.cloud_init import layout as paths
from fastapi_deploy.cloud_init.layout import HostLayout
from fastapi_deploy.cloud_init.nginx import render_site
from fastapi_deploy.cloud_init.systemd import (
    render_app_service,
    render_app_socket,
    render_gunicorn_conf,
    render_journald_conf,
    render_migrate_service,
)
from fastapi_deploy.stack_model.host_spec import (
    SERVER_REQUIREMENTS,
    AcmeCertificates,
    AppHostSpec,
    JournalUploadSpec,
    MetricsShippingSpec,
    S3StoreSpec,
)

__all__ = [
    "USER_DATA_LIMIT_BYTES",
    "HostFile",
    "RenderedUserData",
    "UserDataTooLarge",
    "release_record",
    "render_user_data",
]

# Volcengine ECS (and AWS EC2) accept at most 16 KB of user data before Base64.
USER_DATA_LIMIT_BYTES = 16 * 1024

# Debian 12 package names. Certbot without its nginx plugin: the plugin rewrites the hardened
# site, and a hand-run `certbot --nginx` would order per host; the tooling drives Certbot.
PACKAGES: tuple[str, ...] = (
    "nginx",
    "certbot",
    "python3-venv",
    "openssl",
    "logrotate",
    "ca-certificates",
    "openssh-server",
    # Request rate, 5xx rate and latency from Nginx's log stream, on 127.0.0.1:3903.
    "mtail",
    # The host tooling's own dependencies, from Debian (security updates with the OS).
    "python3-boto3",
    "python3-psycopg",
    "python3-cryptography",
)


# With metrics shipping: the agent that sends them and the exporter of disks, memory and the
# tooling's text files (app_host.metrics).
METRICS_PACKAGES: tuple[str, ...] = ("prometheus", "prometheus-node-exporter")


class UserDataTooLarge(ValueError):
    """The rendered user data exceeds what the cloud accepts."""


@dataclass(frozen=True)
class HostFile:
    """One file the user data writes on the host."""

    path: str
    content: str
    mode: str = "0644"
    owner: str = "root:root"
    # Written in cloud-init's final stage, after packages and users exist.
    defer: bool = False
    secret: bool = False


@dataclass(frozen=True)
class RenderedUserData:
    """The user data text and, for tests and the dev stack, the files it writes."""

    cloud_config: str
    files: tuple[HostFile, ...]

    def file(self, path: str) -> HostFile:
        for item in self.files:
            if item.path == path:
                return item
        raise KeyError(path)

    @property
    def size_bytes(self) -> int:
        return len(self.cloud_config.encode())


def _tool(name: str) -> str:
    return resources.files("fastapi_deploy.cloud_init").joinpath("files", name).read_text()


def _env_value(value: str) -> str:
    # systemd EnvironmentFile: double quotes, with backslash and quote escaped.
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def _env_file(spec: AppHostSpec) -> str:
    entries: dict[str, str] = {"DATABASE_URL": spec.database_url.get_secret_value()}
    storage = spec.object_storage
    if storage is not None:
        entries |= {
            "S3_ENDPOINT_URL": storage.endpoint_url,
            "S3_BUCKET": storage.bucket,
            "S3_REGION": storage.region,
            "S3_ACCESS_KEY_ID": storage.access_key_id.get_secret_value(),
            "S3_SECRET_ACCESS_KEY": storage.secret_access_key.get_secret_value(),
            "S3_ADDRESSING_STYLE": storage.addressing_style,
        }
    entries |= spec.app.env
    entries |= {name: value.get_secret_value() for name, value in spec.app.secret_env.items()}
    lines = [f"{name}={_env_value(value)}" for name, value in entries.items()]
    return "# Managed by the app-host user data.\n" + "\n".join(lines) + "\n"


def _release_requirements(spec: AppHostSpec) -> str:
    index = spec.app.package_index_url
    lines = [f"--index-url {index}"]
    if urlsplit(index).scheme == "http":
        # A plain-http private index must be trusted explicitly; pip refuses it otherwise.
        lines.append(f"--trusted-host {urlsplit(index).hostname}")
    package = spec.app.package
    # The app's own line: a file the host fetched and checked (pip installs that file and
    # never looks its name up on an index), or an exact pin from the named index.
    app_line = f"{paths.ARTIFACTS_DIR}/{package.name}" if package is not None else str(spec.app.requirement)
    lines += [*SERVER_REQUIREMENTS, app_line]
    return "\n".join(lines) + "\n"


def release_record(spec: AppHostSpec) -> ReleaseRecord:
    """What the hosts install for this spec's app version: written by the stack into the
    store, outside the user data, so a new version changes no host (app_host.release)."""
    package = spec.app.package
    return ReleaseRecord(
        label=spec.app.release_label,
        requirements=_release_requirements(spec),
        artifact_key=package.key if package else "",
        artifact_sha256=package.sha256 if package else "",
        batch_size=spec.release_batch_size,
        ready_timeout_seconds=spec.release_ready_timeout_seconds,
        attempt=spec.release_attempt,
    )


def _shell_settings(about: str, settings: dict[str, str]) -> str:
    """A NAME=value file the tooling reads (app_host.config.read_assignments), shell-quoted."""
    lines = [f"{name}={shlex.quote(value)}" for name, value in settings.items()]
    return f"# Managed by the app-host user data: {about}\n" + "\n".join(lines) + "\n"


def _host_conf(spec: AppHostSpec, layout: HostLayout) -> str:
    certificates = spec.certificates
    acme = certificates if isinstance(certificates, AcmeCertificates) else None
    tooling = tooling_ref()
    settings = {
        "APP_NAME": spec.app_name,
        "DOMAINS": " ".join(spec.domains),
        "CERTIFICATE_KIND": certificates.kind,
        "CERTIFICATE_DIR": layout.certificate_dir,
        "ACME_WEBROOT": layout.acme_webroot,
        "ACME_DIRECTORY": acme.directory_url if acme else "",
        "ACME_EMAIL": acme.contact_email if acme else "",
        "ACME_CA_BUNDLE": paths.ACME_CA_BUNDLE if acme and acme.ca_bundle_pem else "",
        "SELF_SIGNED_DAYS": str(getattr(certificates, "valid_days", 0)),
        "CERTIFICATE_RENEW_DAYS": str(acme.renew_before_days if acme else 0),
        "CERTIFICATE_SYNC_SECONDS": str(acme.sync_interval_seconds if acme else 0),
        "TOOLING_KEY": tooling.key,
        "TOOLING_SHA256": tooling.sha256,
        "READINESS_PATH": spec.app.readiness_path,
        "MIGRATION": "yes" if spec.app.migration_command is not None else "",
        "HEALTH_GATE_PORT": str(spec.health_gate_port or ""),
        "BACKUP_PREFIX": f"{spec.backup_prefix}{spec.app_name}/" if spec.backup_schedule else "",
        "BACKUP_SCHEDULE": spec.backup_schedule or "",
        "HEALTH_PROBE_PATH": spec.app.liveness_path or spec.app.readiness_path,
    }
    return _shell_settings("settings of the app-host tooling.", settings)


def _store_conf(spec: AppHostSpec) -> str:
    store = spec.store
    settings: dict[str, str] = {"STORE_KIND": store.kind}
    if isinstance(store, S3StoreSpec):
        settings |= {
            "STORE_ENDPOINT_URL": store.endpoint_url,
            "STORE_BUCKET": store.bucket,
            "STORE_REGION": store.region,
            "STORE_ADDRESSING_STYLE": store.addressing_style,
            "STORE_ACCESS_KEY_ID": store.access_key_id.get_secret_value(),
            "STORE_SECRET_ACCESS_KEY": store.secret_access_key.get_secret_value(),
        }
    else:
        settings["STORE_PATH"] = store.path
    return _shell_settings("the shared store (root only).", settings)


def _metrics_conf(spec: MetricsShippingSpec) -> str:
    settings = {
        "METRICS_WRITE_URL": spec.write_url,
        "METRICS_USERNAME": spec.username,
        "METRICS_PASSWORD": spec.password.get_secret_value(),
    }
    return _shell_settings("where the metrics go (root only).", settings)


def _metrics_files(spec: MetricsShippingSpec) -> list[HostFile]:
    # Not deferred: written before the packages are installed, so that their first start
    # already listens on loopback only (dpkg keeps a config file it finds, as cloud-init
    # installs with --force-confold).
    return [
        HostFile(paths.METRICS_CONF, _metrics_conf(spec), mode="0600", secret=True),
        HostFile("/etc/default/prometheus", host_metrics.PROMETHEUS_DEFAULTS),
        HostFile("/etc/default/prometheus-node-exporter", host_metrics.NODE_EXPORTER_DEFAULTS),
    ]


# The journal's shipper and the collector: Debian's systemd-journal-remote package.
JOURNAL_PACKAGE = "systemd-journal-remote"
JOURNAL_DIR = "/etc/app-host/journal"
JOURNAL_REMOTE_PORT = 19532
# The service runs as a dynamic user, which cannot own a file: systemd hands it root's key.
JOURNAL_UPLOAD_DROP_IN = f"""\
# Managed by the app-host user data.
[Service]
LoadCredential=client.key:{JOURNAL_DIR}/client.key
ExecStart=
ExecStart=/lib/systemd/systemd-journal-upload --save-state --key=${{CREDENTIALS_DIRECTORY}}/client.key
# Back while the collector is away (the package restarts on failure only, and gives up).
Restart=always
RestartSec=10s
"""


def _journal_upload_files(spec: JournalUploadSpec) -> list[HostFile]:
    conf = (
        "# Managed by the app-host user data: the journal leaves the host (from its start).\n"
        f"[Upload]\nURL={spec.url}\nServerCertificateFile={JOURNAL_DIR}/client.pem\n"
        f"TrustedCertificateFile={JOURNAL_DIR}/ca.pem\n"
    )
    return [
        HostFile(f"{JOURNAL_DIR}/ca.pem", spec.ca_pem),
        HostFile(f"{JOURNAL_DIR}/client.pem", spec.client_cert_pem),
        HostFile(f"{JOURNAL_DIR}/client.key", spec.client_key_pem.get_secret_value(), mode="0600", secret=True),
        HostFile(str(JOURNAL_UPLOAD_CONF), conf),
        HostFile("/etc/systemd/system/systemd-journal-upload.service.d/10-app-host.conf", JOURNAL_UPLOAD_DROP_IN),
    ]


def host_files(spec: AppHostSpec) -> tuple[HostFile, ...]:
    """Every file an app host gets, in the order cloud-init writes them."""
    layout = HostLayout(spec.app_name)
    user = f"{layout.service_user}:{layout.service_user}"
    files = [
        HostFile(paths.HOST_CONF, _host_conf(spec, layout)),
        HostFile(paths.STORE_CONF, _store_conf(spec), mode="0600", secret=True),
        HostFile(paths.FETCH_TOOLING, _tool("fetch_tooling.py"), mode="0755"),
        HostFile("/etc/systemd/journald.conf.d/10-app-host.conf", render_journald_conf(spec)),
        HostFile(layout.gunicorn_conf, render_gunicorn_conf(spec, layout)),
        HostFile(f"/etc/systemd/system/{layout.socket_unit}", render_app_socket(layout)),
        HostFile(f"/etc/systemd/system/{layout.app_unit}", render_app_service(spec, layout)),
        # Readable only by the service user; systemd reads it as root before dropping privileges.
        HostFile(layout.env_file, _env_file(spec), mode="0400", owner=user, defer=True, secret=True),
        HostFile(f"/etc/nginx/sites-available/{spec.app_name}.conf", render_site(spec, layout), defer=True),
    ]
    if spec.app.migration_command is not None:
        files.append(
            HostFile(f"/etc/systemd/system/{layout.migrate_unit}", render_migrate_service(spec, layout))
        )
    if spec.metrics is not None:
        files += _metrics_files(spec.metrics)
    if spec.journal_upload is not None:
        files += _journal_upload_files(spec.journal_upload)
    certificates = spec.certificates
    if isinstance(certificates, AcmeCertificates) and certificates.ca_bundle_pem:
        # A private CA: trusted for its ACME API and for the chains it issues.
        files.append(HostFile(paths.ACME_CA_BUNDLE, certificates.ca_bundle_pem))
    return tuple(files)


def packed_file(item: HostFile) -> dict[str, object]:
    # gz+b64 keeps the user data under the 16 KB limit; mtime=0 keeps it deterministic, so an
    # unchanged spec never replaces hosts.
    packed = base64.b64encode(gzip.compress(item.content.encode(), mtime=0)).decode()
    entry: dict[str, object] = {
        "path": item.path,
        "encoding": "gz+b64",
        "content": packed,
        "owner": item.owner,
        "permissions": item.mode,
    }
    if item.defer:
        entry["defer"] = True
    return entry


def admin_user(name: str, ssh_keys: Sequence[str]) -> dict[str, object]:
    """cloud-init's entry for the admin login: sudo, by key only (no password to lock out)."""
    return {
        "name": name,
        "groups": ["sudo"],
        "sudo": "ALL=(ALL) NOPASSWD:ALL",
        "shell": "/bin/bash",
        "lock_passwd": True,
        "ssh_authorized_keys": list(ssh_keys),
    }


def cloud_config_text(config: Mapping[str, object], subject: str, fix: str) -> str:
    """`config` as #cloud-config; raises UserDataTooLarge, naming `subject` and `fix`, when it is
    over what the cloud accepts."""
    text = "#cloud-config\n" + yaml.safe_dump(dict(config), sort_keys=False, width=1000)
    size = len(text.encode())
    if size > USER_DATA_LIMIT_BYTES:
        raise UserDataTooLarge(
            f"the user data for {subject} is {size} bytes, over the {USER_DATA_LIMIT_BYTES}-byte limit of the cloud; {fix}"
        )
    return text


def _users(spec: AppHostSpec, layout: HostLayout) -> list[dict[str, object]]:
    # No "default" entry: the image's default user (often with passwordless sudo) is not made.
    users = [admin_user(spec.admin_user, spec.admin_ssh_keys)] if spec.admin_ssh_keys else []
    users.append(
        {
            "name": layout.service_user,
            "system": True,
            "shell": "/usr/sbin/nologin",
            "homedir": f"/opt/{spec.app_name}",
            "no_create_home": True,
            "lock_passwd": True,
        }
    )
    return users


def render_user_data(spec: AppHostSpec) -> RenderedUserData:
    """Render the #cloud-config for one app host. Raises UserDataTooLarge over 16 KB."""
    layout = HostLayout(spec.app_name)
    files = host_files(spec)
    config: dict[str, object] = {
        "package_update": spec.refresh_package_index,
        "package_upgrade": False,
        # pg_dump for the database dumps (Debian 12's: PostgreSQL 15).
        "packages": [
            *PACKAGES,
            *(("postgresql-client",) if spec.backup_schedule else ()),
            *(METRICS_PACKAGES if spec.metrics is not None else ()),
            *((JOURNAL_PACKAGE,) if spec.journal_upload is not None else ()),
        ],
        "ssh_pwauth": False,
        "disable_root": True,
        "users": _users(spec, layout),
        "write_files": [packed_file(item) for item in files],
        # Fetch the tooling (checked against its digest), then let it do the rest.
        "runcmd": [[paths.FETCH_TOOLING], [paths.APP_HOST_TOOL, "bootstrap"]],
    }
    text = cloud_config_text(
        config, f"app_name={spec.app_name!r}", "shorten env values or move large settings to object storage"
    )
    return RenderedUserData(cloud_config=text, files=files)
