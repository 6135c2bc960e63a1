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
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from fastapi_deploy.stack_model.capacity import Capacity

__all__ = [
    "RESERVED_ENV_NAMES",
    "SERVER_REQUIREMENTS",
    "AcmeCertificates",
    "AppHostSpec",
    "AppSpec",
    "Certificates",
    "ObjectStorageSpec",
    "SelfSignedCertificates",
]

# What the host installs beside the app. Pinned so that every host of a fleet runs the same
# server; a bump is a reviewed change that replaces hosts.
SERVER_REQUIREMENTS: tuple[str, ...] = (
    "gunicorn==27.0.1",
    "uvicorn-worker==0.4.0",
    "psycopg[binary]==3.3.9",
)

# Variables the host sets itself; an app env entry may not shadow them.
RESERVED_ENV_NAMES: frozenset[str] = frozenset(
    {
        "DATABASE_URL",
        "S3_ENDPOINT_URL",
        "S3_BUCKET",
        "S3_REGION",
        "S3_ACCESS_KEY_ID",
        "S3_SECRET_ACCESS_KEY",
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
    """Certificates from an ACME CA (Let's Encrypt by default), obtained by Certbot on the
    host through HTTP-01 on port 80 and renewed by Debian's certbot.timer."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["acme"] = "acme"
    contact_email: str = Field(description="Account email the CA sends expiry notices to.")
    directory_url: str = Field(
        default="https://acme-v02.api.letsencrypt.org/directory",
        description="ACME directory. Default: Let's Encrypt production.",
    )
    ca_bundle_pem: str | None = Field(
        default=None,
        description="PEM CA bundle to trust for a private ACME CA's API. Default: none, the "
        "system trust store is used.",
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


class AppSpec(BaseModel):
    """The user's application: a package from an index, and how to run and migrate it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    requirement: str = Field(
        default="notes-api==0.1.0",
        description="pip requirement of the app, such as 'notes-api==0.1.0'. Default: the "
        "sample app. Changing it changes the user data, which replaces hosts.",
    )
    asgi_path: str = Field(
        default="notes_api.main:app",
        description="'module:attribute' of the ASGI app. Default: the sample app.",
    )
    package_index_url: str = Field(
        default="https://pypi.org/simple/",
        description="PEP 503 index the host installs from; a private index (devpi) works. "
        "Default: PyPI. Plain http:// is allowed (and trusted) for a private network index.",
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Plain environment variables. Default: none."
    )
    secret_env: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="Secret environment variables; written only to the root-owned "
        "environment file. Default: none.",
    )
    migration_command: tuple[str, ...] | None = Field(
        default=("notes-api-migrate",),
        description="Command run once before the app starts, under a Postgres advisory lock; "
        "a bare name is looked up in the app's virtualenv. Default: the sample app's "
        "migrations. None: no migration step.",
    )

    @field_validator("requirement")
    @classmethod
    def _requirement(cls, value: str) -> str:
        try:
            Requirement(value)
        except InvalidRequirement as error:
            raise ValueError(
                f"requirement={value!r} is not a pip requirement ({error}); use a form such "
                "as 'my-api==1.2.3'"
            ) from None
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

    @model_validator(mode="after")
    def _no_overlap(self) -> AppSpec:
        both = sorted(set(self.env) & set(self.secret_env))
        if both:
            raise ValueError(
                f"environment variables {both} are in both env and secret_env; keep each in one"
            )
        return self


class ObjectStorageSpec(BaseModel):
    """An S3-compatible bucket (Volcengine TOS in prod) the app may use."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    endpoint_url: str = Field(description="S3-compatible endpoint, such as the TOS S3 endpoint.")
    bucket: str = Field(min_length=3, max_length=63, description="Bucket name.")
    region: str = Field(min_length=1, description="Region of the bucket.")
    access_key_id: SecretStr = Field(description="Access key id (secret).")
    secret_access_key: SecretStr = Field(description="Secret access key (secret).")

    @field_validator("endpoint_url")
    @classmethod
    def _endpoint(cls, value: str) -> str:
        return _check_http_url("endpoint_url", value, allow_http=True)


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
    app: AppSpec = Field(default_factory=AppSpec, description="The application. Default: sample.")
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
    max_body_size_mib: int = Field(
        default=10, ge=1, le=1024, description="Largest request body Nginx accepts. Default 10."
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
