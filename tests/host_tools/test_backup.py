"""The restore drill, on a real PostgreSQL cluster with a directory as the bucket's stand-in:
notes written through the sample app's API, backed up, the database dropped, restored into a
new one, the notes read back through the API. A truncated or altered dump is refused before
anything is written; two hosts running the backup at once make one dump."""

from __future__ import annotations

import datetime
import json
import secrets
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fastapi_deploy.app_host.backup import FRESH_HOURS, BackupRefused, DumpRecord, backup, restore
from fastapi_deploy.app_host.store import LocalStore
from tests.boot.harness import PostgresServer

PREFIX = "backups/api/"
OWNER = "notes"
PASSWORD = secrets.token_urlsafe(12)
FIGURES: dict[str, float] = {}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    server = PostgresServer(tmp_path_factory.mktemp("postgres")).start()
    yield server
    server.stop()
    print("\nbackup figures:", json.dumps({key: round(value, 2) for key, value in FIGURES.items()}))


def _database(cluster: PostgresServer, name: str) -> str:
    return cluster.create_database(name, owner=OWNER, password=PASSWORD)


def _api(url: str, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    from notes_api.main import create_app

    monkeypatch.setenv("DATABASE_URL", url)
    for name in ("S3_ENDPOINT_URL", "S3_BUCKET", "SENTRY_DSN"):
        monkeypatch.delenv(name, raising=False)
    return TestClient(create_app())


def _migrate(url: str) -> None:
    from notes_api.db import create_database_engine
    from notes_api.migrate import upgrade_to_head
    from notes_api.settings import load_settings

    engine = create_database_engine(load_settings({"DATABASE_URL": url}))
    try:
        upgrade_to_head(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def live(cluster: PostgresServer) -> str:
    """The app's database, migrated, with 100,000 notes (the size the figures are for)."""
    url = _database(cluster, "notes_live")
    _migrate(url)
    cluster.query(
        "notes_live",
        "INSERT INTO notes (text) SELECT 'bulk note ' || n FROM generate_series(1, 100000) AS n",
    )
    return url


def test_a_backup_restores_into_a_new_database_with_the_notes_back(
    cluster: PostgresServer, live: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    texts = [f"drill {secrets.token_hex(4)}" for _ in range(5)]
    with _api(live, monkeypatch) as client:
        for text in texts:
            assert client.post("/notes", json={"text": text}).status_code == 201
    store = LocalStore(tmp_path / "bucket")

    started = time.monotonic()
    record = backup("api", live, store, PREFIX)
    FIGURES["backup of 100,000 notes (s)"] = time.monotonic() - started
    assert record is not None
    FIGURES["dump size (MB)"] = record.size / 1e6
    assert record.row_counts["public.notes"] == 100_005
    assert record.schema_version is not None
    # Stored as recorded, and the newest pointer names it.
    assert (tmp_path / "bucket" / record.key).stat().st_size == record.size
    assert DumpRecord.parse((tmp_path / "bucket" / PREFIX / "latest.json").read_bytes()) == record

    cluster.query("postgres", "DROP DATABASE notes_live WITH (FORCE)")
    target = _database(cluster, "notes_restored")
    started = time.monotonic()
    assert restore(live, store, PREFIX, target) == record
    FIGURES["restore of 100,000 notes (s)"] = time.monotonic() - started

    with _api(target, monkeypatch) as client:
        newest = [note["text"] for note in client.get("/notes", params={"limit": 5}).json()]
    assert sorted(newest) == sorted(texts)
    assert cluster.query("notes_restored", "SELECT count(*) FROM notes") == [(100_005,)]


@pytest.fixture
def backed_up(cluster: PostgresServer, tmp_path: Path) -> tuple[str, LocalStore, DumpRecord]:
    url = _database(cluster, f"notes_{secrets.token_hex(3)}")
    _migrate(url)
    cluster.query(url.rsplit("/", 1)[1], "INSERT INTO notes (text) VALUES ('one'), ('two')")
    store = LocalStore(tmp_path / "bucket")
    record = backup("api", url, store, PREFIX)
    assert record is not None
    return url, store, record


@pytest.mark.parametrize("damage", ["truncated", "altered"])
def test_a_damaged_dump_is_refused_and_nothing_is_restored(
    cluster: PostgresServer, backed_up: tuple[str, LocalStore, DumpRecord], tmp_path: Path, damage: str
) -> None:
    url, store, record = backed_up
    dump = tmp_path / "bucket" / record.key
    data = dump.read_bytes()
    dump.write_bytes(data[: len(data) // 2] if damage == "truncated" else data[:-1] + bytes([data[-1] ^ 1]))
    name = f"restore_{secrets.token_hex(3)}"
    target = _database(cluster, name)
    with pytest.raises(BackupRefused, match="truncated or altered; nothing restored"):
        restore(url, store, PREFIX, target)
    assert cluster.query(name, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'") == [(0,)]


def test_the_live_database_and_a_used_one_are_refused_as_targets(
    cluster: PostgresServer, backed_up: tuple[str, LocalStore, DumpRecord]
) -> None:
    url, store, _ = backed_up
    with pytest.raises(BackupRefused, match="the target is the live database"):
        restore(url, store, PREFIX, url)
    used = f"used_{secrets.token_hex(3)}"
    target = _database(cluster, used)
    cluster.query(used, "CREATE TABLE keep (id int)")
    with pytest.raises(BackupRefused, match="not empty"):
        restore(url, store, PREFIX, target)


def test_two_hosts_at_once_make_one_dump_and_a_fresh_one_is_not_repeated(
    backed_up: tuple[str, LocalStore, DumpRecord], tmp_path: Path
) -> None:
    url, store, first = backed_up
    # Within FRESH_HOURS of the last dump: nothing to do.
    assert backup("api", url, store, PREFIX) is None
    later = datetime.datetime.fromisoformat(first.created) + datetime.timedelta(hours=FRESH_HOURS + 1)
    results: list[DumpRecord | None] = []
    hosts = [threading.Thread(target=lambda: results.append(backup("api", url, store, PREFIX, now=later))) for _ in range(2)]
    for host in hosts:
        host.start()
    for host in hosts:
        host.join(timeout=120)
    made = [result for result in results if result is not None]
    assert len(results) == 2 and len(made) == 1
    dumps = sorted(path.name for path in (tmp_path / "bucket" / PREFIX).glob("*.dump"))
    assert dumps == sorted({Path(first.key).name, Path(made[0].key).name})


def test_restore_refuses_a_password_on_its_command_line() -> None:
    from fastapi_deploy.app_host.cli import _has_password

    # argv is in the process list and sudo's log: the password belongs in PGPASSWORD.
    assert _has_password("postgresql://notes:s3cret@10.0.0.5:5432/restored") is True
    assert _has_password("postgresql://notes@10.0.0.5:5432/restored") is False
