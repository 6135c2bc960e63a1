"""The host's migration wrapper against a real Postgres: hosts that start together take turns."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from fastapi_deploy.artifacts import tooling_archive
from tests.boot.harness import PostgresServer

LOCK_KEY = 424242


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The host tooling as it ships: the zipapp, run by a Python that has psycopg."""
    path = tmp_path_factory.mktemp("tooling") / "app-host"
    path.write_bytes(tooling_archive())
    return path


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("PostgresServer runs initdb as the postgres user: needs root")
    with PostgresServer(tmp_path_factory.mktemp("pg")) as server:
        yield server.create_database("migrations", owner="migrator", password="pw-for-test")


def _wrapper(tool: Path, url: str, log: Path, *, wait_seconds: float = 60) -> subprocess.Popen[str]:
    # The "migration" records when it ran; overlapping intervals would mean no mutual exclusion.
    migration = f"import time; open({str(log)!r}, 'a').write(f'{{time.time()}} start\\n'); time.sleep(1.5); open({str(log)!r}, 'a').write(f'{{time.time()}} end\\n')"
    return subprocess.Popen(
        [sys.executable, str(tool), "migrate", "--lock-key", str(LOCK_KEY), "--wait-seconds", str(wait_seconds), "--", sys.executable, "-c", migration],
        env=dict(os.environ, DATABASE_URL=url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_concurrent_hosts_run_the_migration_one_at_a_time(tool: Path, database_url: str, tmp_path: Path) -> None:
    log = tmp_path / "runs.log"
    processes = [_wrapper(tool, database_url, log) for _ in range(3)]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0], outputs
    events = [line.split() for line in log.read_text().splitlines()]
    kinds = [kind for _, kind in events]
    # start/end strictly alternate: no run began while another was in progress.
    assert kinds == ["start", "end"] * 3
    assert any("another host is migrating, waiting" in output for output in outputs)


def test_gives_up_when_the_lock_is_held_too_long(tool: Path, database_url: str, tmp_path: Path) -> None:
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        started = time.monotonic()
        process = _wrapper(tool, database_url, tmp_path / "runs.log", wait_seconds=3)
        output = process.communicate(timeout=30)[0]
    assert process.returncode != 0
    assert "another host holds the migration lock; gave up" in output
    assert time.monotonic() - started < 20
    assert not (tmp_path / "runs.log").exists()


def test_failing_migration_fails_the_unit_and_releases_the_lock(tool: Path, database_url: str) -> None:
    env = dict(os.environ, DATABASE_URL=database_url)
    failed = subprocess.run(
        [sys.executable, str(tool), "migrate", "--lock-key", str(LOCK_KEY), "--wait-seconds", "5", "--", sys.executable, "-c", "raise SystemExit(3)"],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )
    assert failed.returncode == 3
    with psycopg.connect(database_url, autocommit=True) as probe:
        row = probe.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,)).fetchone()
        assert row == (True,)


def test_unreachable_database_is_a_clear_error(tool: Path, tmp_path: Path) -> None:
    env = dict(os.environ, DATABASE_URL="postgresql://nobody:pw@127.0.0.1:1/none")
    result = subprocess.run(
        [sys.executable, str(tool), "migrate", "--lock-key", "1", "--wait-seconds", "1", "--", "true"],
        env=env, capture_output=True, text=True, timeout=30, check=False,
    )
    assert result.returncode != 0
    assert "migrate-once: database not reachable" in result.stderr
    assert "pw" not in result.stderr.replace("password", "")
