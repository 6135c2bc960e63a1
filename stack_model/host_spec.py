"""The app-host spec: everything one app host needs to know, validated before rendering.

It is pure data (no Pulumi): the cloud components, the Docker dev stack and the tests all
build one of these and hand it to `cloud_init.render_user_data`.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Literal
from urllib.parse import urlsplit

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from fastapi_deploy.stack_model.capacity import Capacity

__all__ = [
    "ARTIFACTS_PREFIX",
    "HEALTH_GATE_PORT",
    "RESERVED_ENV_NAMES",
    "SERVER_REQUIREMENTS",
    "TLS_PREFIX",
    "AcmeCertificates",
    "AppHostSpec",
    "AppSpec",
    "ArtifactRef",
    "Certificates",
    "JournalUploadSpec",
    "LocalStoreSpec",
    "LogCollectorSpec",
    "MetricsShippingSpec",
    "ObjectStorageSpec",
    "S3StoreSpec",
    "SelfSignedCertificates",
    "StoreSpec",
    "is_dump_schedule",
]

# What the host installs beside the app. Pinned so that every host of a fleet runs the same
# server; a bump is a reviewed change that replaces hosts. (The host's own tooling uses
# Debian's python3-psycopg, so an app need not use psycopg.)
SERVER_REQUIREMENTS: tuple[str, ...] = (
    "gunicorn==27.0.1",
    "uvicorn-worker==0.4.0",
    # The event loop and HTTP parser the worker names (app_host/worker.py): about 1.8x the
    # requests per second of asyncio + h11 for a trivial endpoint (FACTS, serving path).
    "uvloop==0.22.1",
    "httptools==0.7.1",
)

# The port a fleet host holds open only while its app answers (app_host/health_gate.py): the
# load balancer's health check probes it. Reachable only from the CLB's health-check range
# (stack_model.ingress); never one of the ports the mission keeps closed.
HEALTH_GATE_PORT = 8090

# Variables the host sets itself; an app env entry may not shadow them.
RESERVED_ENV_NAMES: frozenset[str] = frozenset(
    {
        "DATABASE_URL",
        "S3_ENDPOINT_URL",
        "S3_BUCKET",
        "S3_REGION",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
        "S3_ADDRESSING_STYLE",
        "LISTEN_FDS",
        "LISTEN_PID",
        "LISTEN_FDNAMES",
        "NOTIFY_SOCKET",
        "PATH",
        "HOME",
    }
)

_DOMAIN_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_ASGI_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*:[A-Za-z_][A-Za-z0-9_]*$")
_SLUG = re.compile(r"^[a-z][a-z0-9-]{1,30}[a-z0-9]$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
)
_COMMAND_WORD = re.compile(r"^[A-Za-z0-9_@%+=:,./-]+$")
_ARTIFACT_NAME = re.compile(r"^[A-Za-z0-9._+-]{1,200}$")
_URL_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
# The systemd.time(7) calendar expressions a dump schedule may use: at most one run a day
# (the tooling dumps at most once per 20 h), as a shorthand or a daily time, optionally on
# some weekdays. Anything else is refused here rather than by systemd on the host.
_DAY = "(Mon|Tue|Wed|Thu|Fri|Sat|Sun)"
_CALENDAR = re.compile(
    rf"^(daily|weekly|monthly|quarterly|semiannually|yearly|annually"
    rf"|({_DAY}((,|\.\.){_DAY})* )?\*-\*-\* ([01]\d|2[0-3]):[0-5]\d(:[0-5]\d)?)$"
)


def is_dump_schedule(value: str) -> bool:
    """Whether `value` is a calendar expression a dump schedule may use (see _CALENDAR)."""
    return bool(_CALENDAR.match(value))


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$")

# Store keys the stack owns; an app that shares the bucket keeps out of them.
ARTIFACTS_PREFIX = "artifacts/"
TLS_PREFIX = "tls/"


def _check_domain(value: str) -> str:
    name = value.strip().lower().rstrip(".")
    labels = name.split(".")
    if (
        len(name) > 253
        or len(labels) < 2
        or not all(_DOMAIN_LABEL.match(label) for label in labels)
        or labels[-1].isdigit()
    ):
        raise ValueError(
            f"{value!r} is not a fully qualified domain name; use a name such as "
            "'api.example.com' (at least two labels, letters, digits and hyphens, "
            "no wildcards: HTTP-01 validation cannot issue them)"
        )
    return name


def _check_http_url(field: str, value: str, *, allow_http: bool) -> str:
    parts = urlsplit(value)
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes or not parts.hostname:
        allowed = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"{field}={value!r} must be an absolute {allowed} URL")
    return value


class AcmeCertificates(BaseModel):
    """One certificate for the whole fleet from an ACME CA (Let's Encrypt by default): ordered
    by one host at a time (a Postgres advisory lock) with Certbot over HTTP-01, which any host
    answers from the store; kept in the store and installed by every host. A single host is a
    fleet of one: a replaced host needs no new order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["acme"] = "acme"
    contact_email: str = Field(description="Account email the CA sends expiry notices to.")
    directory_url: str = Field(
        default="https://acme-v02.api.letsencrypt.org/directory",
        description="ACME directory. Default: Let's Encrypt production.",
    )
    ca_bundle_pem: str | None = Field(
        default=None,
        description="PEM CA bundle of a private ACME CA: trusted for its API and for the chains "
        "it issues, besides the system's roots. Default: none, the system trust store only.",
    )
    renew_before_days: int = Field(
        default=30,
        ge=1,
        le=60,
        description="Order a new certificate when the one in use expires within this many days. "
        "Default 30, Certbot's window.",
    )
    sync_interval_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="How often each host looks in the store for a newer certificate. Default 60: "
        "a renewal reaches every host within about a minute.",
    )

    @field_validator("contact_email")
    @classmethod
    def _email(cls, value: str) -> str:
        if not _EMAIL.match(value):
            raise ValueError(
                f"contact_email={value!r} is not an email address; give the address that "
                "should receive certificate expiry notices, such as 'ops@example.com'"
            )
        return value

    @field_validator("directory_url")
    @classmethod
    def _directory(cls, value: str) -> str:
        return _check_http_url("directory_url", value, allow_http=False)

    @field_validator("ca_bundle_pem")
    @classmethod
    def _bundle(cls, value: str | None) -> str | None:
        if value is not None and "-----BEGIN CERTIFICATE-----" not in value:
            raise ValueError(
                "ca_bundle_pem does not contain a PEM certificate ('-----BEGIN CERTIFICATE-----'); "
                "paste the CA certificate(s) of the private ACME server, or leave it unset"
            )
        return value


class SelfSignedCertificates(BaseModel):
    """A self-signed certificate made on the host: for dev stacks and tests that have no
    public DNS name. Browsers will not trust it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["self-signed"] = "self-signed"
    valid_days: int = Field(default=365, ge=1, le=825, description="Validity. Default 365 days.")


# The certificate source is a replaceable part of the spec: a later kind (a certificate
# shared by a fleet behind a load balancer) slots in here without touching the rest.
Certificates = Annotated[
    AcmeCertificates | SelfSignedCertificates, Field(discriminator="kind")
]


class ArtifactRef(BaseModel):
    """A file the hosts fetch from the store: named by its digest, installed only if the
    fetched bytes have it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="File name, such as 'notes-api-src.tar.gz' or a wheel's. Required.")
    sha256: str = Field(description="SHA-256 of the file, 64 lower-case hex digits. Required.")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _ARTIFACT_NAME.match(value) or value.startswith("."):
            raise ValueError(
                f"artifact name {value!r} must be a plain file name of letters, digits and . _ - + "
                "(up to 200 characters), such as 'my_api-1.0-py3-none-any.whl'"
            )
        return value

    @field_validator("sha256")
    @classmethod
    def _digest(cls, value: str) -> str:
        if not re.fullmatch(r"[0-9a-f]{64}", value):
            raise ValueError(f"sha256={value!r} is not 64 lower-case hex digits")
        return value

    @property
    def key(self) -> str:
        """Where the file lives in the store: content-addressed, so a new build never
        overwrites one a running host or a scaling configuration still names."""
        return f"{ARTIFACTS_PREFIX}{self.sha256}/{self.name}"


class AppSpec(BaseModel):
    """The user's application: where it comes from, and how to run and migrate it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    package: ArtifactRef | None = Field(
        default=None,
        description="The app as a file shipped through the store (a wheel, or a source "
        "archive pip builds on the host), pinned by its SHA-256. Default: none; set this or "
        "requirement.",
    )
    requirement: str | None = Field(
        default=None,
        description="The app as an exact pin from package_index_url, such as 'my-api==1.2.3'. "
        "Default: none; set this or package.",
    )
    asgi_path: str = Field(
        description="'module:attribute' of the ASGI app, such as 'my_api.main:app'. Required."
    )
    readiness_path: str = Field(
        description="Path that answers 200 once the app can serve (database reachable, schema "
        "current), such as '/readyz'; deploy checks wait for it. Required."
    )
    liveness_path: str | None = Field(
        default=None,
        description="Path that answers whenever the app process can serve at all, without "
        "touching the database, such as '/healthz'; the load balancer's health gate probes it. "
        "Default None: the readiness path (which takes every host out when the database hangs).",
    )
    migration_command: tuple[str, ...] | None = Field(
        default=None,
        description="Command run once per fleet before the app starts, under a Postgres "
        "advisory lock, such as ('alembic', 'upgrade', 'head'); a bare name is looked up in the "
        "app's virtualenv. Default None: no migration step.",
    )
    package_index_url: str = Field(
        default="https://pypi.org/simple/",
        description="PEP 503 index for the app's dependencies (and the requirement); a private "
        "index (devpi) works. Default: PyPI. Plain http:// is allowed (and trusted) for a private "
        "network index.",
    )
    timeout_seconds: int = Field(
        default=60,
        ge=5,
        le=3600,
        description="Longest a request may take before gunicorn restarts the worker and Nginx "
        "answers 504. Default 60.",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Plain environment variables. Default: none."
    )
    secret_env: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secret environment variables; written only to the root-owned "
        "environment file. Default: none.",
    )

    @field_validator("requirement")
    @classmethod
    def _requirement(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            requirement = Requirement(value)
        except InvalidRequirement as error:
            raise ValueError(
                f"requirement={value!r} is not a pip requirement ({error}); use a form such "
                "as 'my-api==1.2.3'"
            ) from None
        specifiers = list(requirement.specifier)
        exact = (
            len(specifiers) == 1
            and specifiers[0].operator in ("==", "===")
            and "*" not in specifiers[0].version
        )
        if requirement.url or not exact:
            raise ValueError(
                f"requirement={value!r} is not pinned to one version; pin it exactly, such as "
                f"'{requirement.name}==1.2.3', so that every host of a fleet runs the same release"
            )
        return value

    @field_validator("asgi_path")
    @classmethod
    def _asgi(cls, value: str) -> str:
        if not _ASGI_PATH.match(value):
            raise ValueError(
                f"asgi_path={value!r} must be 'package.module:attribute', such as "
                "'notes_api.main:app'"
            )
        return value

    @field_validator("readiness_path")
    @classmethod
    def _readiness(cls, value: str) -> str:
        if not _URL_PATH.match(value):
            raise ValueError(
                f"readiness_path={value!r} must be a URL path starting with '/', such as '/readyz'"
            )
        return value

    @field_validator("liveness_path")
    @classmethod
    def _liveness(cls, value: str | None) -> str | None:
        if value is not None and not _URL_PATH.match(value):
            raise ValueError(
                f"liveness_path={value!r} must be a URL path starting with '/', such as '/healthz'"
            )
        return value

    @field_validator("package_index_url")
    @classmethod
    def _index(cls, value: str) -> str:
        return _check_http_url("package_index_url", value, allow_http=True)

    @field_validator("env", "secret_env")
    @classmethod
    def _env_names(cls, value: dict[str, object]) -> dict[str, object]:
        for name, item in value.items():
            if not _ENV_NAME.match(name):
                raise ValueError(
                    f"environment variable name {name!r} must be upper case letters, digits "
                    "and underscores, not starting with a digit"
                )
            if name in RESERVED_ENV_NAMES:
                raise ValueError(
                    f"environment variable {name!r} is set by the host itself; rename it or "
                    "use the matching spec field (database_url, object_storage)"
                )
            text = item.get_secret_value() if isinstance(item, SecretStr) else str(item)
            if "\n" in text or "\r" in text or "\x00" in text:
                raise ValueError(
                    f"environment variable {name!r} contains a line break or NUL, which an "
                    "environment file cannot hold; encode the value (for example base64)"
                )
        return value

    @field_validator("migration_command")
    @classmethod
    def _migration(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        if not value or not all(_COMMAND_WORD.match(word) for word in value):
            raise ValueError(
                f"migration_command={list(value)!r} must be a non-empty list of plain words "
                "(letters, digits and _@%+=:,./-), such as ['alembic', 'upgrade', 'head']; "
                "or null for no migration step"
            )
        return value

    @property
    def release_label(self) -> str:
        """The app's version as people and error reports name it: 'name@version' of the
        pinned requirement or the wheel; for a source archive (built from a directory, with
        no version of its own) its name and digest, which change with every change to it."""
        if self.requirement:
            pinned = Requirement(self.requirement)
            versions = [item.version for item in pinned.specifier]
            return f"{canonicalize_name(pinned.name)}@{versions[0] if versions else 'unpinned'}"
        if self.package is None:
            return "unknown"
        if self.package.name.endswith(".whl"):
            name, version = self.package.name.split("-")[:2]
            return f"{canonicalize_name(name)}@{version}"
        return f"{self.package.name}@{self.package.sha256[:12]}"

    @model_validator(mode="after")
    def _one_source_and_no_overlap(self) -> AppSpec:
        if (self.package is None) == (self.requirement is None):
            raise ValueError(
                "the app needs exactly one source: package (a file shipped through the store) "
                "or requirement (an exact pin from package_index_url)"
            )
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise ValueError(
                f"environment variables {both} are in both env and secret_env; keep each in one"
            )
        return self


AddressingStyle = Literal["virtual", "path"]


def _check_bucket(value: str) -> str:
    if not _BUCKET.match(value):
        raise ValueError(
            f"bucket={value!r} is not a bucket name: 3-63 lower-case letters, digits and "
            "hyphens, not starting or ending with a hyphen"
        )
    return value


class _S3Bucket(BaseModel):
    """A bucket behind an S3-compatible endpoint, with a key to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint_url: str = Field(description="S3-compatible endpoint, such as the TOS S3 endpoint. Required.")
    bucket: str = Field(description="Bucket name. Required.")
    region: str = Field(min_length=1, description="Region of the bucket. Required.")
    access_key_id: SecretStr = Field(description="Access key id (secret). Required.")
    secret_access_key: SecretStr = Field(description="Secret access key (secret). Required.")
    addressing_style: AddressingStyle = Field(
        default="virtual",
        description="How requests name the bucket: 'virtual' (bucket.endpoint; the only style "
        "TOS's S3 endpoint accepts) or 'path' (endpoint/bucket; local test servers on an IP "
        "address). Default virtual.",
    )

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _check_http_url("endpoint_url", value, allow_http=True)

    @field_validator("bucket")
    @classmethod
    def _bucket(cls, value: str) -> str:
        return _check_bucket(value)


class ObjectStorageSpec(_S3Bucket):
    """An S3-compatible bucket (Volcengine TOS in prod) the app may use, with the app's key."""


class S3StoreSpec(_S3Bucket):
    """The shared store in a bucket: where hosts fetch artifacts and share certificates.
    The keys are the hosts' own, limited to the stack's prefixes (not the app's)."""

    kind: Literal["s3"] = "s3"


class LocalStoreSpec(BaseModel):
    """A directory on the host used as the store: the dev stack's container, whose platform
    puts the artifacts there."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["local"] = "local"
    path: str = Field(
        default="/var/lib/app-host/store",
        description="Directory on the host. Default /var/lib/app-host/store.",
    )

    @field_validator("path")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not value.startswith("/") or ".." in value.split("/"):
            raise ValueError(f"path={value!r} must be an absolute path without '..'")
        return value.rstrip("/") or "/"


StoreSpec = Annotated[S3StoreSpec | LocalStoreSpec, Field(discriminator="kind")]


class MetricsShippingSpec(BaseModel):
    """Where each host's metrics agent remote-writes (the stack's managed Prometheus), with the
    workspace's login."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    write_url: str = Field(description="Prometheus remote-write URL. Required.")
    username: str = Field(description="Basic-auth user of the remote write. Required.")
    password: SecretStr = Field(description="Basic-auth password of the remote write (secret). Required.")

    @field_validator("write_url")
    @classmethod
    def _write_url(cls, value: str) -> str:
        return _check_http_url("write_url", value, allow_http=True)

    @field_validator("username")
    @classmethod
    def _username(cls, value: str) -> str:
        if not re.fullmatch(r"[^\s:]+", value):
            raise ValueError(f"username={value!r} must be non-empty, without spaces or ':'")
        return value

    @field_validator("password")
    @classmethod
    def _password(cls, value: SecretStr) -> SecretStr:
        # The agent reads it from a file of its own; a line break there would end it early.
        if not value.get_secret_value() or re.search(r"\s", value.get_secret_value()):
            raise ValueError("password must be non-empty and without spaces or line breaks")
        return value


def _check_pem(field: str, value: str, kind: str) -> str:
    if f"-----BEGIN {kind}" not in value or "-----END" not in value:
        raise ValueError(f"{field} is not a PEM {kind.lower()} (no '-----BEGIN {kind}' block)")
    return value


class JournalUploadSpec(BaseModel):
    """Where each host's journal goes: a systemd-journal-remote collector over HTTPS whose
    certificate the host checks against the stack's CA (the upload also needs a client
    certificate of its own, which Debian 12's collector does not check)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str = Field(description="https:// URL of the collector (systemd-journal-remote). Required.")
    ca_pem: str = Field(description="The CA that signed the collector's and the hosts' certificates. Required.")
    client_cert_pem: str = Field(description="The hosts' client certificate. Required.")
    client_key_pem: SecretStr = Field(description="The hosts' client key (secret). Required.")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        return _check_http_url("url", value, allow_http=False)

    @field_validator("ca_pem", "client_cert_pem")
    @classmethod
    def _certificate(cls, value: str, info: ValidationInfo) -> str:
        return _check_pem(str(info.field_name), value, "CERTIFICATE")

    @field_validator("client_key_pem")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        _check_pem("client_key_pem", value.get_secret_value(), "")
        return value


class LogCollectorSpec(BaseModel):
    """The host that receives the fleet's journals (systemd-journal-remote over HTTPS) and
    keeps them bounded."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    server_cert_pem: str = Field(description="The collector's certificate (its address in the SAN). Required.")
    server_key_pem: SecretStr = Field(description="The collector's key (secret). Required.")
    max_use_gib: int = Field(default=20, ge=1, description="Disk the received journals may use. Default 20 GiB.")
    keep_days: int = Field(default=30, ge=1, description="Days the received journals are kept. Default 30.")
    admin_ssh_keys: tuple[str, ...] = Field(default=(), description="Public keys of the admin user. Default: none.")
    admin_user: str = Field(default="ops", description="Admin login with sudo. Default 'ops'.")

    @field_validator("server_cert_pem")
    @classmethod
    def _certificate(cls, value: str) -> str:
        return _check_pem("server_cert_pem", value, "CERTIFICATE")

    @field_validator("server_key_pem")
    @classmethod
    def _key(cls, value: SecretStr) -> SecretStr:
        _check_pem("server_key_pem", value.get_secret_value(), "")
        return value


class AppHostSpec(BaseModel):
    """One app host: TLS proxy, app server, migrations, logs and access."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    app_name: str = Field(
        default="api",
        description="Slug naming the service user, the systemd units and the paths. Default "
        "'api'.",
    )
    domains: tuple[str, ...] = Field(
        min_length=1, description="DNS names served; the first is the certificate's name."
    )
    certificates: Certificates = Field(description="Where the TLS certificate comes from.")
    app: AppSpec = Field(description="The application and how to run it. Required.")
    store: StoreSpec = Field(
        description="Where the host fetches its tooling and the app package and keeps what the "
        "fleet shares (certificates). Required."
    )
    capacity: Capacity = Field(description="Instance size and per-worker memory.")
    database_url: SecretStr = Field(
        description="libpq URL 'postgresql://user:password@host:port/db' (secret)."
    )
    object_storage: ObjectStorageSpec | None = Field(
        default=None, description="Bucket for the app. Default: none."
    )
    admin_ssh_keys: tuple[str, ...] = Field(
        default=(),
        description="Public keys of the admin user. Default: none, so no one can log in over "
        "SSH (the cloud security group closes 22 too unless admin CIDRs are set).",
    )
    admin_user: str = Field(default="ops", description="Admin login with sudo. Default 'ops'.")
    public_https_port: int = Field(
        default=443,
        ge=1,
        le=65535,
        description="Port clients reach HTTPS on, for the HTTP redirect. Default 443; the dev "
        "stack publishes 443 on another port (devHttpsPort), and a redirect without it would "
        "send browsers to a port nothing listens on.",
    )
    max_body_size_mib: int = Field(
        default=10, ge=1, le=1024, description="Largest request body Nginx accepts. Default 10."
    )
    backup_schedule: str | None = Field(
        default=None,
        description="When one host of the fleet dumps the database into the store (a systemd "
        "OnCalendar expression such as 'daily' or '*-*-* 03:00:00'). Default None: no dumps.",
    )
    backup_prefix: str = Field(
        default="backups/",
        description="Store prefix of the dumps (each app under its own name). Default 'backups/'.",
    )
    metrics: MetricsShippingSpec | None = Field(
        default=None,
        description="Ship the host's metrics (requests, 5xx, latency, disk, backups) to a "
        "Prometheus remote-write endpoint. Default None: they stay on the host's loopback.",
    )
    journal_upload: JournalUploadSpec | None = Field(
        default=None,
        description="Ship the host's journal to a collector. Default None: it stays on the host.",
    )
    health_gate_port: int | None = Field(
        default=None,
        description="Behind a load balancer: the port held open only while the app answers, "
        f"which the balancer's health check probes ({HEALTH_GATE_PORT} in the stacks). Default "
        "None: a host on its own has no gate.",
    )
    journal_max_use_mib: int = Field(
        default=1024, ge=64, description="Disk the journal may use. Default 1024 MiB."
    )
    migration_wait_seconds: int = Field(
        default=600,
        ge=10,
        description="How long a host waits for the database and the migration lock before "
        "the migration step fails. Default 600.",
    )
    release_batch_size: int = Field(
        default=1,
        ge=1,
        le=100,
        description="Hosts of the fleet that switch to a new release at once. Default 1.",
    )
    release_ready_timeout_seconds: int = Field(
        default=300,
        ge=10,
        le=3600,
        description="How long a host gives a new release's migration, and then its readiness, "
        "before it abandons it for the fleet and keeps the old one serving. Default 300.",
    )
    release_attempt: int = Field(
        default=1,
        ge=1,
        description="Raise it to try a version again after the fleet abandoned it (the hosts "
        "never retry an abandoned release by themselves). Default 1.",
    )
    refresh_package_index: bool = Field(
        default=True,
        description="Run apt-get update before installing packages. Default true; a pre-baked "
        "image that already has them can turn it off.",
    )

    @field_validator("app_name", "admin_user")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not _SLUG.match(value):
            raise ValueError(
                f"{value!r} must be 3-32 lower case letters, digits and hyphens, starting with "
                "a letter, such as 'api'"
            )
        return value

    @field_validator("backup_schedule")
    @classmethod
    def _schedule(cls, value: str | None) -> str | None:
        if value is not None and not is_dump_schedule(value):
            raise ValueError(
                f"backup_schedule {value!r} is not a schedule of at most one dump a day; use "
                "'daily', 'weekly', '*-*-* 03:00:00' or 'Mon..Fri *-*-* 03:00'"
            )
        return value

    @field_validator("health_gate_port")
    @classmethod
    def _gate_port(cls, value: int | None) -> int | None:
        if value is not None and (not 1024 < value <= 65535 or value in (5432, 8000)):
            raise ValueError(
                f"health_gate_port {value} must be an unprivileged port (1025-65535) other than "
                f"8000 (the app) and 5432 (the database), such as {HEALTH_GATE_PORT}"
            )
        return value

    @field_validator("domains")
    @classmethod
    def _domains(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        names = tuple(_check_domain(item) for item in value)
        if len(set(names)) != len(names):
            raise ValueError(f"domains={list(value)!r} lists a name twice; list each once")
        return names

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        parts = urlsplit(value.get_secret_value())
        if parts.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
            raise ValueError(
                f"database_url has scheme {parts.scheme!r}; use "
                "'postgresql://user:password@host:5432/dbname'"
            )
        if not parts.hostname or not parts.path.strip("/"):
            raise ValueError(
                "database_url needs a host and a database name: "
                "'postgresql://user:password@host:5432/dbname'"
            )
        return value

    @field_validator("admin_ssh_keys")
    @classmethod
    def _ssh_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for key in value:
            words = key.split()
            problem = None
            if len(words) < 2 or words[0] not in _SSH_KEY_TYPES:
                problem = f"it must start with one of {', '.join(_SSH_KEY_TYPES)}"
            else:
                try:
                    blob = base64.b64decode(words[1], validate=True)
                except binascii.Error:
                    blob = b""
                if not blob.startswith(len(words[0]).to_bytes(4, "big") + words[0].encode()):
                    problem = "its base64 body does not encode a key of that type"
            if problem:
                raise ValueError(
                    f"admin_ssh_keys entry {key[:40]!r}... is not an OpenSSH public key: "
                    f"{problem}; paste the one line of your id_*.pub file"
                )
        return value

    @model_validator(mode="after")
    def _admin_differs(self) -> AppHostSpec:
        if self.admin_user == self.app_name:
            raise ValueError(
                f"admin_user and app_name are both {self.app_name!r}; the service user must "
                "not be the admin login, choose another admin_user"
            )
        return self

    @property
    def worker_count(self) -> int:
        return self.capacity.worker_count
