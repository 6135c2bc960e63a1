"""Configuration read from environment variables only, so one wheel fits every host."""

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

DATABASE_URL_EXAMPLE = "postgresql://USER:PASSWORD@HOST:5432/DBNAME"

# Shown after a variable's error so the operator knows the fix, not just the fault.
FIXES = {
    "DATABASE_URL": f"set DATABASE_URL to a libpq URL such as {DATABASE_URL_EXAMPLE}",
    "S3_ENDPOINT_URL": "set S3_ENDPOINT_URL to the object storage URL, e.g. https://s3.example.net",
}

_ACCEPTED_SCHEMES = {
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}


class SettingsError(Exception):
    """The environment does not describe a runnable service; the message says how to fix it."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    # Kept secret so that logging or printing the settings never shows the password.
    database_url: SecretStr = Field(validation_alias="DATABASE_URL")
    s3_endpoint_url: str | None = Field(default=None, validation_alias="S3_ENDPOINT_URL")
    s3_bucket: str | None = Field(default=None, validation_alias="S3_BUCKET")
    s3_region: str = Field(default="us-east-1", validation_alias="S3_REGION")
    s3_access_key_id: str | None = Field(default=None, validation_alias="S3_ACCESS_KEY_ID")
    s3_secret_access_key: SecretStr | None = Field(
        default=None, validation_alias="S3_SECRET_ACCESS_KEY"
    )
    # Virtual-hosted requests (bucket.endpoint) are what TOS's S3 endpoint accepts, and AWS
    # prefers; "path" is for servers addressed by IP (local MinIO, moto).
    s3_addressing_style: Literal["virtual", "path"] = Field(
        default="virtual", validation_alias="S3_ADDRESSING_STYLE"
    )

    @field_validator(
        "s3_endpoint_url",
        "s3_bucket",
        "s3_access_key_id",
        "s3_secret_access_key",
        mode="before",
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        # Unit files and env files often carry `S3_BUCKET=` to mean "not configured".
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("s3_endpoint_url", mode="after")
    @classmethod
    def _endpoint_has_scheme(cls, value: str | None) -> str | None:
        # botocore would otherwise fail at startup with a message that names no variable.
        if value is not None and not value.startswith(("http://", "https://")):
            raise ValueError("S3_ENDPOINT_URL must start with http:// or https://")
        return value

    @field_validator("s3_addressing_style", mode="before")
    @classmethod
    def _blank_style_is_default(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return "virtual"
        return value

    @field_validator("s3_region", mode="before")
    @classmethod
    def _blank_region_is_default(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return "us-east-1"
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _to_sqlalchemy_url(cls, value: Any) -> str:
        if not isinstance(value, str) or not value.strip():
            raise ValueError("DATABASE_URL is empty")
        value = value.strip()
        scheme, sep, rest = value.partition("://")
        if not sep:
            raise ValueError("DATABASE_URL is not a URL")
        driver = _ACCEPTED_SCHEMES.get(scheme.lower())
        if driver is None:
            raise ValueError(f"DATABASE_URL has scheme {scheme!r}; only PostgreSQL is supported")
        # Swap only the scheme so the rest (password escapes, ?host=/run/postgresql,
        # ?sslmode=...) reaches psycopg exactly as libpq would read it.
        converted = f"{driver}://{rest}"
        try:
            make_url(converted)
        except (ArgumentError, ValueError):
            raise ValueError("DATABASE_URL could not be parsed") from None
        return converted

    @model_validator(mode="after")
    def _object_storage_complete(self) -> "Settings":
        if self.s3_bucket is None:
            return self
        required = {
            "S3_ENDPOINT_URL": self.s3_endpoint_url,
            "S3_ACCESS_KEY_ID": self.s3_access_key_id,
            "S3_SECRET_ACCESS_KEY": self.s3_secret_access_key,
        }
        missing = [name for name, value in required.items() if value is None]
        if missing:
            raise ValueError(
                f"S3_BUCKET is set but {', '.join(missing)} {'is' if len(missing) == 1 else 'are'}"
                " not; set them as well, or unset S3_BUCKET to run without object storage"
            )
        return self

    @property
    def object_storage_configured(self) -> bool:
        return self.s3_bucket is not None

    @property
    def sqlalchemy_url(self) -> str:
        return self.database_url.get_secret_value()


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Validate the environment, turning pydantic's report into one operator-readable message."""
    source = os.environ if environ is None else environ
    try:
        return Settings.model_validate(dict(source))
    except ValidationError as exc:
        raise SettingsError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = []
    # include_input=False: the offending value may be a password.
    for error in exc.errors(include_input=False, include_url=False):
        variable = str(error["loc"][0]) if error["loc"] else ""
        if error["type"] == "missing":
            problem = f"{variable} is not set"
        elif error["type"] == "value_error":
            problem = str(error["ctx"]["error"])
        else:
            problem = f"{variable}: {error['msg']}"
        fix = FIXES.get(variable)
        problems.append(f"{problem}; {fix}" if fix else problem)
    return "invalid configuration: " + " | ".join(problems)
