"""Real services for the tests: a throwaway PostgreSQL cluster and a moto S3 server."""

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql

APP_DIRECTORY = Path(__file__).resolve().parents[1]
# Test the source tree, whether or not (and whichever version of) the wheel is installed.
sys.path.insert(0, str(APP_DIRECTORY))

from notes_api.db import create_database_engine  # noqa: E402
from notes_api.main import create_app  # noqa: E402
from notes_api.migrate import upgrade_to_head  # noqa: E402
from notes_api.settings import load_settings  # noqa: E402

SETTINGS_VARIABLES = (
    "DATABASE_URL",
    "S3_ENDPOINT_URL",
    "S3_BUCKET",
    "S3_REGION",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def postgres_bin_directory() -> Path:
    if os.environ.get("PG_BIN"):
        return Path(os.environ["PG_BIN"])
    pg_config = shutil.which("pg_config")
    if pg_config:
        found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True)
        if found.returncode == 0 and (Path(found.stdout.strip()) / "initdb").exists():
            return Path(found.stdout.strip())
    installed = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda path: int(path.parent.name)
    )
    if not installed:
        pytest.fail("PostgreSQL server binaries not found; install postgresql or set PG_BIN")
    return installed[-1]


@dataclass(frozen=True)
class PostgresServer:
    port: int
    user: str
    password: str

    def url(self, database: str) -> str:
        """libpq form, as an operator would write DATABASE_URL."""
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    binaries = postgres_bin_directory()
    # Not under pytest's tmp_path: that is private to root, and the server may run as postgres.
    workdir = Path(tempfile.mkdtemp(prefix="notes-api-pg-"))
    data = workdir / "data"
    # Characters that need escaping in a URL would test nothing here and obscure failures.
    server = PostgresServer(port=free_port(), user="notes_admin", password=secrets.token_hex(12))
    password_file = workdir / "password"
    password_file.write_text(server.password)
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb and postgres refuse to run as root.
        for path in (workdir, password_file):
            shutil.chown(path, "postgres", "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [
            *run_as,
            str(binaries / "initdb"),
            "--pgdata",
            str(data),
            "--username",
            server.user,
            "--pwfile",
            str(password_file),
            "--auth",
            "scram-sha-256",
            "--encoding",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
    )
    options = f"-p {server.port} -k {workdir} -c listen_addresses=127.0.0.1 -c fsync=off"
    pg_ctl = [*run_as, str(binaries / "pg_ctl"), "--pgdata", str(data)]
    subprocess.run(
        [*pg_ctl, "--log", str(workdir / "server.log"), "--wait", "-o", options, "start"],
        check=True,
        capture_output=True,
    )
    try:
        yield server
    finally:
        subprocess.run([*pg_ctl, "--mode", "immediate", "stop"], capture_output=True)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The developer's or CI's own settings must not leak into a test."""
    for name in SETTINGS_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def database_url(postgres_server: PostgresServer) -> Iterator[str]:
    """URL of a new, empty database: every test starts before any migration."""
    name = f"notes_{secrets.token_hex(6)}"
    admin_url = postgres_server.url("postgres")
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield postgres_server.url(name)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    engine = create_database_engine(load_settings({"DATABASE_URL": database_url}))
    try:
        upgrade_to_head(engine)
    finally:
        engine.dispose()
    return database_url


@pytest.fixture
def start_client() -> Iterator[Callable[[], TestClient]]:
    """Start the app (lifespan included) with whatever the test put in the environment."""
    started: list[TestClient] = []

    def start() -> TestClient:
        client = TestClient(create_app())
        client.__enter__()
        started.append(client)
        return client

    yield start
    for client in started:
        client.__exit__(None, None, None)


@pytest.fixture
def client(
    migrated_database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    start_client: Callable[[], TestClient],
) -> TestClient:
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    return start_client()


@pytest.fixture(scope="session")
def s3_endpoint_url() -> Iterator[str]:
    try:
        from moto.server import ThreadedMotoServer
    except ImportError:
        pytest.fail("the object storage tests need moto: pip install 'moto[server]'")
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.fixture
def object_storage(s3_endpoint_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Object storage configured in the environment; returns the bucket, not created yet."""
    bucket = f"notes-{secrets.token_hex(6)}"
    monkeypatch.setenv("S3_ENDPOINT_URL", s3_endpoint_url)
    monkeypatch.setenv("S3_BUCKET", bucket)
    monkeypatch.setenv("S3_ACCESS_KEY_ID", "test")
    monkeypatch.setenv("S3_SECRET_ACCESS_KEY", "test-secret")
    return bucket


@pytest.fixture
def create_bucket(s3_endpoint_url: str, object_storage: str) -> Callable[[], None]:
    def create() -> None:
        import boto3

        boto3.client(
            "s3",
            endpoint_url=s3_endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        ).create_bucket(Bucket=object_storage)

    return create
