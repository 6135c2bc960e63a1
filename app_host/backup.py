"""`app-host backup` and `app-host restore`: logical backups of the app's database in the store.

A backup is `pg_dump -Fc` of the app's database, taken by one host of the fleet at a time
(an advisory lock; a host that finds a dump younger than `FRESH_HOURS` leaves it at that),
written to a private temporary file, then uploaded as `<prefix><UTC time>.dump` beside a
record (`.json`: its SHA-256, size, schema version and row counts). The record goes up last
and `latest.json` after it, so a dump whose upload broke off is never the one restored.

A restore goes into a database the operator names (never the live one): the dump is fetched,
checked against its record (a truncated or altered dump is refused before anything is
written), restored in one transaction, and compared with the record (schema version, row
counts, taken in the snapshot the dump was taken from, so they must match exactly); only
then does it say how to switch.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from .locks import KEEPALIVES, LockTimeout, advisory_lock, libpq_url, lock_key, with_keepalives
from .store import Store
from .system import warn

__all__ = ["BackupRefused", "DumpRecord", "backup", "newest_dump", "restore"]

# A dump that takes longer is given up (and the lock with it), so one hung dump cannot stop
# every later one; the unit's own timeout is a little longer.
DUMP_TIMEOUT_SECONDS = 3 * 3600
# A dump younger than this (another host's, or an earlier run's) makes a run do nothing: the
# daily timer fires on every host, and one dump a day is the goal.
FRESH_HOURS = 20
_STAMP = "%Y%m%dT%H%M%SZ"


class BackupRefused(Exception):
    """A dump cannot be restored (missing, truncated, altered) or a restore did not match."""


@dataclass(frozen=True)
class DumpRecord:
    key: str
    sha256: str
    size: int
    created: str
    schema_version: str | None
    row_counts: dict[str, int]

    @classmethod
    def parse(cls, data: bytes) -> DumpRecord:
        return cls(**json.loads(data))


def _client_target(url: str) -> tuple[str, dict[str, str]]:
    """pg_dump's and pg_restore's --dbname and environment for `url`: the password goes in
    the environment, not in argv, which any user of the host can read in the process list."""
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    parts = conninfo_to_dict(libpq_url(url))
    password = parts.pop("password", None)
    parts |= KEEPALIVES
    conninfo = make_conninfo(**{name: str(value) for name, value in parts.items()})
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    if password:
        env["PGPASSWORD"] = str(password)
    return conninfo, env


_USER_TABLES = (
    "SELECT schemaname, tablename FROM pg_tables"
    " WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
)


def _connect(url: str) -> Any:
    import psycopg

    return psycopg.connect(libpq_url(url), autocommit=True, connect_timeout=10)


def _tables_in(connection: Any) -> list[tuple[str, str]]:
    return [(str(schema), str(name)) for schema, name in connection.execute(_USER_TABLES)]


def _tables(url: str) -> list[tuple[str, str]]:
    with _connect(url) as connection:
        return _tables_in(connection)


def _facts_in(connection: Any) -> tuple[str | None, dict[str, int]]:
    """The schema version (Alembic's, when the app uses it) and each table's row count, as
    `connection` sees the database."""
    from psycopg import sql

    tables = _tables_in(connection)
    counts: dict[str, int] = {}
    for schema, name in tables:
        row = connection.execute(
            sql.SQL("SELECT count(*) FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(name))
        ).fetchone()
        counts[f"{schema}.{name}"] = int(row[0]) if row else 0
    version = None
    if ("public", "alembic_version") in tables:
        found = connection.execute("SELECT version_num FROM public.alembic_version").fetchone()
        version = str(found[0]) if found else None
    return version, counts


def _facts(url: str) -> tuple[str | None, dict[str, int]]:
    with _connect(url) as connection:
        return _facts_in(connection)


@contextlib.contextmanager
def _snapshot(url: str) -> Iterator[tuple[str, tuple[str | None, dict[str, int]]]]:
    """A repeatable-read transaction held open while pg_dump uses its exported snapshot, and
    the schema version and row counts as that snapshot sees them."""
    import psycopg

    with psycopg.connect(with_keepalives(url), connect_timeout=10) as connection:
        connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = connection.execute("SELECT pg_export_snapshot()").fetchone()
        if row is None:
            raise BackupRefused("the database exported no snapshot")
        yield str(row[0]), _facts_in(connection)
        connection.rollback()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as dump:
        while chunk := dump.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _latest(store: Store, prefix: str) -> DumpRecord | None:
    data = store.get(f"{prefix}latest.json")
    return DumpRecord.parse(data) if data is not None else None


def newest_dump(store: Store, prefix: str) -> str | None:
    """When the newest dump in the store was taken, or None (none yet, or the store cannot
    tell now): for the metrics, so it never raises."""
    try:
        latest = _latest(store, prefix)
    except Exception as error:  # the run's own outcome is reported; this is extra
        warn(f"the newest dump's time is unknown ({type(error).__name__}: {error})")
        return None
    return latest.created if latest is not None else None


def backup(
    app_name: str, database_url: str, store: Store, prefix: str, *, now: datetime.datetime | None = None
) -> DumpRecord | None:
    """Take today's dump unless another host has; returns its record, or None when there
    was nothing to do."""
    now = now or datetime.datetime.now(datetime.UTC)
    try:
        with advisory_lock(database_url, lock_key(f"{app_name}:backup"), wait_seconds=0):
            latest = _latest(store, prefix)
            if latest is not None:
                age = now - datetime.datetime.fromisoformat(latest.created)
                if age < datetime.timedelta(hours=FRESH_HOURS):
                    return None
            with tempfile.TemporaryDirectory(prefix="app-host-backup-") as work, _snapshot(database_url) as (snapshot, facts):
                dump = Path(work) / "db.dump"
                # The record's counts and the dump see the same snapshot, so a restore must
                # match them exactly.
                schema_version, counts = facts
                source, env = _client_target(database_url)
                try:
                    dumped = subprocess.run(
                        ["pg_dump", "--format=custom", "--no-owner", "--no-privileges",
                         f"--snapshot={snapshot}", "--lock-wait-timeout=60000", "--file", str(dump), "--dbname", source],
                        env=env,
                        capture_output=True,
                        text=True,
                        timeout=DUMP_TIMEOUT_SECONDS,
                    )  # fmt: skip
                except FileNotFoundError:
                    raise BackupRefused("pg_dump is not installed (Debian package postgresql-client)") from None
                except subprocess.TimeoutExpired:
                    raise BackupRefused(f"pg_dump did not finish within {DUMP_TIMEOUT_SECONDS} s") from None
                if dumped.returncode != 0:
                    raise BackupRefused(f"pg_dump failed: {dumped.stderr.strip()[-500:]}")
                key = f"{prefix}{now.strftime(_STAMP)}.dump"
                record = DumpRecord(
                    key=key,
                    sha256=_sha256(dump),
                    size=dump.stat().st_size,
                    created=now.isoformat(),
                    schema_version=schema_version,
                    row_counts=counts,
                )
                store.put_file(key, dump)
            text = json.dumps(asdict(record), indent=1, sort_keys=True).encode()
            store.put(key.removesuffix(".dump") + ".json", text, "application/json")
            store.put(f"{prefix}latest.json", text, "application/json")
            return record
    except LockTimeout:
        return None


def restore(
    database_url: str, store: Store, prefix: str, target_url: str, *, stamp: str | None = None
) -> DumpRecord:
    """Restore the newest dump (or the one taken at `stamp`) into the empty database at
    `target_url`, and check it against its record. Raises BackupRefused, naming why."""
    if libpq_url(target_url) == libpq_url(database_url):
        raise BackupRefused("the target is the live database; restore into a new, empty database")
    if stamp is None:
        record = _latest(store, prefix)
        if record is None:
            raise BackupRefused(f"no backup recorded under {prefix}latest.json")
    else:
        data = store.get(f"{prefix}{stamp}.json")
        if data is None:
            raise BackupRefused(f"no backup record {prefix}{stamp}.json")
        record = DumpRecord.parse(data)
    with tempfile.TemporaryDirectory(prefix="app-host-restore-") as work:
        dump = Path(work) / "db.dump"
        if not store.get_file(record.key, dump):
            raise BackupRefused(f"{record.key} is missing from the store (expired?)")
        size, digest = dump.stat().st_size, _sha256(dump)
        if (size, digest) != (record.size, record.sha256):
            raise BackupRefused(
                f"{record.key} is {size} bytes with SHA-256 {digest[:12]}..., its record says "
                f"{record.size} bytes, {record.sha256[:12]}...: truncated or altered; nothing restored"
            )
        existing = _tables(target_url)
        if existing:
            raise BackupRefused(f"the target database is not empty ({len(existing)} tables); create a new one")
        target, env = _client_target(target_url)
        result = subprocess.run(
            ["pg_restore", "--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction",
             "--dbname", target, str(dump)],
            env=env,
            capture_output=True,
            text=True,
        )  # fmt: skip
        if result.returncode != 0:
            raise BackupRefused(f"pg_restore failed, nothing restored: {result.stderr.strip()[-500:]}")
    version, counts = _facts(target_url)
    if version != record.schema_version or counts != record.row_counts:
        differing = {
            table: (counts.get(table), record.row_counts.get(table))
            for table in sorted({*counts, *record.row_counts})
            if counts.get(table) != record.row_counts.get(table)
        }
        raise BackupRefused(
            f"restored, but it does not match its record: schema {version} (recorded "
            f"{record.schema_version}), rows (restored, recorded) {differing}; do not switch to it"
        )
    return record

