import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from notes_api.settings import SettingsError, load_settings

APP_DIRECTORY = Path(__file__).resolve().parents[1]
S3_COMPLETE = {
    "S3_ENDPOINT_URL": "http://127.0.0.1:9000",
    "S3_BUCKET": "notes",
    "S3_ACCESS_KEY_ID": "key",
    "S3_SECRET_ACCESS_KEY": "s3-secret-value",
}
DATABASE = {"DATABASE_URL": "postgresql://notes:db-secret@db.internal:5432/notes"}


def settings_error(environ: dict[str, str]) -> str:
    with pytest.raises(SettingsError) as caught:
        load_settings(environ)
    return str(caught.value)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (
            "postgresql://notes:db-secret@db.internal:5432/notes",
            "postgresql+psycopg://notes:db-secret@db.internal:5432/notes",
        ),
        ("postgres://notes@db.internal/notes", "postgresql+psycopg://notes@db.internal/notes"),
        (
            "postgresql+psycopg://notes:p%40ss@db.internal/notes?sslmode=require",
            "postgresql+psycopg://notes:p%40ss@db.internal/notes?sslmode=require",
        ),
        (
            "postgresql://notes@/notes?host=/run/postgresql",
            "postgresql+psycopg://notes@/notes?host=/run/postgresql",
        ),
    ],
)
def test_database_url_is_converted_to_the_psycopg_driver(given: str, expected: str) -> None:
    assert load_settings({"DATABASE_URL": given}).sqlalchemy_url == expected


def test_missing_database_url_names_the_variable_and_the_fix() -> None:
    message = settings_error({})
    assert "DATABASE_URL is not set" in message
    assert "postgresql://USER:PASSWORD@HOST:5432/DBNAME" in message


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("", "DATABASE_URL is empty"),
        ("db.internal:5432", "DATABASE_URL is not a URL"),
        ("mysql://notes:db-secret@db.internal/notes", "scheme 'mysql'"),
        ("postgresql+psycopg2://notes:db-secret@db.internal/notes", "scheme 'postgresql+psycopg2'"),
        ("postgresql://notes:db-secret@db.internal:port/notes", "could not be parsed"),
    ],
)
def test_invalid_database_url_is_explained_without_the_password(value: str, problem: str) -> None:
    message = settings_error({"DATABASE_URL": value})
    assert problem in message
    assert "set DATABASE_URL to a libpq URL" in message
    assert "db-secret" not in message


def test_object_storage_is_optional_and_blank_means_unset() -> None:
    settings = load_settings({**DATABASE, "S3_BUCKET": "", "S3_REGION": " "})
    assert not settings.object_storage_configured
    assert settings.s3_region == "us-east-1"


def test_object_storage_settings() -> None:
    settings = load_settings({**DATABASE, **S3_COMPLETE, "S3_REGION": "eu-central-1"})
    assert settings.object_storage_configured
    assert settings.s3_region == "eu-central-1"
    assert settings.s3_secret_access_key is not None
    assert settings.s3_secret_access_key.get_secret_value() == "s3-secret-value"


def test_bucket_without_endpoint_or_keys_names_what_is_missing() -> None:
    message = settings_error({**DATABASE, "S3_BUCKET": "notes"})
    missing = "S3_ENDPOINT_URL, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY"
    assert f"S3_BUCKET is set but {missing} are not" in message
    partial = {**DATABASE, **S3_COMPLETE, "S3_SECRET_ACCESS_KEY": ""}
    assert "S3_BUCKET is set but S3_SECRET_ACCESS_KEY is not" in settings_error(partial)


def test_endpoint_without_scheme_is_explained() -> None:
    message = settings_error({**DATABASE, **S3_COMPLETE, "S3_ENDPOINT_URL": "s3.example.net"})
    assert "S3_ENDPOINT_URL must start with http:// or https://" in message
    assert "set S3_ENDPOINT_URL to the object storage URL" in message


def test_secrets_stay_out_of_the_settings_repr() -> None:
    shown = repr(load_settings({**DATABASE, **S3_COMPLETE}))
    assert "db-secret" not in shown
    assert "s3-secret-value" not in shown


def test_app_refuses_to_start_without_database_url(
    start_client: Callable[[], TestClient],
) -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL is not set"):
        start_client()


def test_server_startup_failure_says_which_variable_to_set() -> None:
    environ = {
        name: value
        for name, value in os.environ.items()
        if name != "DATABASE_URL" and not name.startswith("S3_")
    }
    environ["PYTHONPATH"] = str(APP_DIRECTORY)
    server = subprocess.run(
        [sys.executable, "-m", "uvicorn", "notes_api.main:app", "--port", "0"],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert server.returncode != 0
    assert "cannot start: invalid configuration: DATABASE_URL is not set; set DATABASE_URL" in (
        server.stderr
    )
