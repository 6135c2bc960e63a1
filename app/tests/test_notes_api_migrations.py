import os
import subprocess
import sys
from pathlib import Path

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from notes_api.db import create_database_engine
from notes_api.migrate import script_heads
from notes_api.models import Base
from notes_api.settings import load_settings

APP_DIRECTORY = Path(__file__).resolve().parents[1]
APPLIED = "Running upgrade  -> 0001"


def migrate(database_url: str | None) -> subprocess.Popen[str]:
    """Start notes-api-migrate (the same function the console script runs) as a host would."""
    environ = {name: value for name, value in os.environ.items() if name != "DATABASE_URL"}
    environ["PYTHONPATH"] = str(APP_DIRECTORY)
    if database_url is not None:
        environ["DATABASE_URL"] = database_url
    return subprocess.Popen(
        [sys.executable, "-m", "notes_api.migrate"],
        env=environ,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(run: subprocess.Popen[str]) -> tuple[int, str]:
    _, stderr = run.communicate(timeout=60)
    return run.returncode, stderr


def test_head_is_the_first_revision() -> None:
    assert script_heads() == frozenset({"0001"})


def test_a_schema_a_later_release_migrated_is_left_alone(database_url: str) -> None:
    """Rolling back to this release runs its migration command on a schema a later release
    expanded: it must succeed and change nothing (alembic alone fails on the unknown
    revision)."""
    returncode, stderr = finish(migrate(database_url))
    assert returncode == 0, stderr
    with psycopg.connect(database_url) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0002'")
    returncode, stderr = finish(migrate(database_url))
    assert returncode == 0, stderr
    assert "database schema is at 0002, ahead of this release (0001); nothing to apply" in stderr
    with psycopg.connect(database_url) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0002",)
        ]


def test_second_run_applies_nothing(database_url: str) -> None:
    returncode, stderr = finish(migrate(database_url))
    assert returncode == 0, stderr
    assert APPLIED in stderr
    assert "database schema is at head 0001" in stderr

    returncode, stderr = finish(migrate(database_url))
    assert returncode == 0, stderr
    assert "Running upgrade" not in stderr
    assert "database schema is at head 0001" in stderr

    with psycopg.connect(database_url) as connection:
        assert connection.execute("SELECT version_num FROM alembic_version").fetchall() == [
            ("0001",)
        ]
        assert connection.execute("SELECT count(*) FROM notes").fetchone() == (0,)


def test_concurrent_runs_apply_once(database_url: str) -> None:
    runs = [migrate(database_url) for _ in range(3)]
    results = [finish(run) for run in runs]
    assert [returncode for returncode, _ in results] == [0, 0, 0], results
    assert sum(APPLIED in stderr for _, stderr in results) == 1


def test_missing_database_url_is_a_clear_error() -> None:
    returncode, stderr = finish(migrate(None))
    assert returncode == 2
    assert "DATABASE_URL is not set; set DATABASE_URL to a libpq URL" in stderr
    assert "Traceback" not in stderr


def test_unreachable_database_is_a_clear_error() -> None:
    closed_port_url = "postgresql://notes:db-secret@127.0.0.1:1/notes"
    returncode, stderr = finish(migrate(closed_port_url))
    assert returncode == 1
    assert "migration failed: connection failed" in stderr
    assert "Traceback" not in stderr
    assert "db-secret" not in stderr


def test_models_match_the_migrated_schema(migrated_database_url: str) -> None:
    """A model changed without a migration would show up here as a difference."""
    engine = create_database_engine(load_settings({"DATABASE_URL": migrated_database_url}))
    try:
        with engine.connect() as connection:
            assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    finally:
        engine.dispose()
