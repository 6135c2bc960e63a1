import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text

from notes_api.db import create_database_engine
from notes_api.migrate import upgrade_to_head
from notes_api.settings import load_settings

APP_DIRECTORY = Path(__file__).resolve().parents[1]
StartClient = Callable[[], TestClient]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections but never answers: the case a timeout is for."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def test_healthz_touches_no_dependency(
    monkeypatch: pytest.MonkeyPatch, start_client: StartClient
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://notes:db-secret@127.0.0.1:1/notes")
    client = start_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_version_names_the_code_and_its_release(
    monkeypatch: pytest.MonkeyPatch, start_client: StartClient
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://notes:db-secret@127.0.0.1:1/notes")
    monkeypatch.setenv("APP_RELEASE", "notes-api@0.1.0")
    response = start_client().get("/version")
    assert response.json() == {"version": "0.1.0", "release": "notes-api@0.1.0"}


def test_readyz_waits_for_the_migration(
    database_url: str, monkeypatch: pytest.MonkeyPatch, start_client: StartClient
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    client = start_client()

    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "not ready"
    assert body["reason"] == (
        "database schema is at revision none, expected 0001; run notes-api-migrate"
    )

    engine = create_database_engine(load_settings())
    upgrade_to_head(engine)
    engine.dispose()

    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "schema": "0001", "object_storage": "not configured"},
    }


def test_readyz_serves_on_a_schema_a_later_release_expanded(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch, start_client: StartClient
) -> None:
    """While a release rolls through a fleet, its first host migrates and the others still
    serve the previous release: a revision this code does not ship is a later one's."""
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    engine = create_database_engine(load_settings())
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0002'"))
    engine.dispose()
    response = start_client().get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["schema"] == "0002 (ahead of this release)"


def test_readyz_names_a_database_it_cannot_reach(
    monkeypatch: pytest.MonkeyPatch, start_client: StartClient
) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://notes:db-secret@127.0.0.1:1/notes")
    response = start_client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"].startswith("database unreachable: connection failed")


def test_readyz_never_shows_the_password(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch, start_client: StartClient
) -> None:
    wrong = migrated_database_url.replace("@127.0.0.1", "-wrong-secret@127.0.0.1")
    monkeypatch.setenv("DATABASE_URL", wrong)
    response = start_client().get("/readyz")
    assert response.status_code == 503
    assert "password authentication failed" in response.json()["reason"]
    assert "wrong-secret" not in response.text


def test_readyz_gives_up_on_a_silent_database(
    silent_port: int, monkeypatch: pytest.MonkeyPatch, start_client: StartClient
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://notes:pw@127.0.0.1:{silent_port}/notes")
    client = start_client()
    started = time.monotonic()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert time.monotonic() - started < 6
    assert response.json()["reason"].startswith("database unreachable")


def test_readyz_requires_the_bucket_when_object_storage_is_configured(
    migrated_database_url: str,
    object_storage: str,
    create_bucket: Callable[[], None],
    monkeypatch: pytest.MonkeyPatch,
    start_client: StartClient,
) -> None:
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    client = start_client()

    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["reason"] == f"object storage bucket '{object_storage}' does not exist"

    create_bucket()
    response = client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["checks"]["object_storage"] == "ok"


def test_readyz_gives_up_on_silent_object_storage(
    migrated_database_url: str,
    object_storage: str,
    silent_port: int,
    monkeypatch: pytest.MonkeyPatch,
    start_client: StartClient,
) -> None:
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    monkeypatch.setenv("S3_ENDPOINT_URL", f"http://127.0.0.1:{silent_port}")
    client = start_client()
    started = time.monotonic()
    response = client.get("/readyz")
    assert response.status_code == 503
    assert time.monotonic() - started < 6
    assert response.json()["reason"].startswith("object storage unreachable at http://127.0.0.1")
    assert "test-secret" not in response.text


def test_readyz_reports_every_failure(
    database_url: str,
    object_storage: str,
    monkeypatch: pytest.MonkeyPatch,
    start_client: StartClient,
) -> None:
    monkeypatch.setenv("DATABASE_URL", database_url)
    reason = start_client().get("/readyz").json()["reason"]
    assert "database schema is at revision none" in reason
    assert f"bucket '{object_storage}' does not exist" in reason


def test_boto3_is_not_loaded_without_object_storage(database_url: str) -> None:
    probe = (
        "import sys\n"
        "from fastapi.testclient import TestClient\n"
        "from notes_api.main import app\n"
        "with TestClient(app) as client:\n"
        "    client.get('/readyz')\n"
        "    client.get('/healthz')\n"
        "print('boto3' in sys.modules, 'botocore' in sys.modules)\n"
    )
    environ = {
        name: value
        for name, value in os.environ.items()
        if name != "DATABASE_URL" and not name.startswith("S3_")
    }
    environ.update(PYTHONPATH=str(APP_DIRECTORY), DATABASE_URL=database_url)
    result = subprocess.run(
        [sys.executable, "-c", probe], env=environ, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False False"


def test_client_reports_what_the_app_sees(client: TestClient) -> None:
    assert client.get("/client").json() == {"client_host": "testclient", "scheme": "http"}


def test_client_trusts_forwarded_headers_from_the_proxy() -> None:
    """What a deployment does: uvicorn trusting X-Forwarded-* from the local reverse proxy."""
    port = _free_port()
    environ = {name: value for name, value in os.environ.items() if not name.startswith("S3_")}
    # The app does not connect at startup, so any well-formed URL will do.
    environ.update(PYTHONPATH=str(APP_DIRECTORY), DATABASE_URL="postgresql://n@127.0.0.1:1/n")
    server = subprocess.Popen(
        [
            sys.executable, "-m", "uvicorn", "notes_api.main:app",
            "--host", "127.0.0.1", "--port", str(port),
            "--proxy-headers", "--forwarded-allow-ips", "127.0.0.1",
        ],
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        response = _get_when_up(
            f"http://127.0.0.1:{port}/client",
            headers={"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"},
        )
        assert response.json() == {"client_host": "203.0.113.7", "scheme": "https"}
    finally:
        server.terminate()
        server.wait(timeout=30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _get_when_up(url: str, headers: dict[str, str]) -> httpx.Response:
    deadline = time.monotonic() + 30
    while True:
        try:
            return httpx.get(url, headers=headers, timeout=5)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
