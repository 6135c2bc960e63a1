"""Fleet-wide locks: Postgres advisory locks on the app's own database, which every host of a
stack already reaches. The lock lives as long as the connection: a host that dies (or a
process killed with -9) releases it, and keepalives make the server notice a vanished host
within about half a minute instead of TCP's two hours."""

from __future__ import annotations

import contextlib
import hashlib
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["KEEPALIVES", "LockTimeout", "advisory_lock", "database_url_from_env_file", "libpq_url", "lock_key", "with_keepalives"]


class LockTimeout(Exception):
    """The lock was held by another host for longer than the wait allowed."""


_LINE = re.compile(r'^([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"$')


def database_url_from_env_file(path: Path) -> str:
    """DATABASE_URL from the app's environment file (systemd EnvironmentFile syntax, as the
    renderer writes it: double quotes, backslash escapes)."""
    for line in path.read_text().splitlines():
        match = _LINE.match(line)
        if match and match.group(1) == "DATABASE_URL":
            return re.sub(r"\\(.)", r"\1", match.group(2))
    raise LookupError(f"{path} has no DATABASE_URL")


def lock_key(name: str) -> int:
    """A stable signed 64-bit key per purpose, so two purposes (or two apps on one server)
    never block each other."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


# Client-side TCP keepalives for every connection the tooling holds while it works: a
# database that vanishes is noticed in about half a minute instead of TCP's two hours.
KEEPALIVES: dict[str, int] = {"keepalives": 1, "keepalives_idle": 10, "keepalives_interval": 5, "keepalives_count": 3}


def libpq_url(url: str) -> str:
    """`url` as libpq takes it: the app may use SQLAlchemy's 'postgresql+psycopg://' form."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+')[0]}{sep}{rest}"


def with_keepalives(url: str) -> str:
    """A libpq connection string for `url` with KEEPALIVES."""
    from psycopg.conninfo import make_conninfo

    return make_conninfo(libpq_url(url), **KEEPALIVES)


@contextlib.contextmanager
def advisory_lock(url: str, key: int, *, wait_seconds: float) -> Iterator[Any]:
    """Hold the advisory lock `key` for the block; wait at most `wait_seconds` for it
    (0: try once). Raises LockTimeout when another session keeps it."""
    import psycopg

    connection = psycopg.connect(
        with_keepalives(url),
        autocommit=True,
        connect_timeout=10,
        application_name="app-host",
    )
    try:
        # The server side too: a host that vanishes without closing is noticed in ~25 s.
        connection.execute("SET tcp_keepalives_idle = 10")
        connection.execute("SET tcp_keepalives_interval = 5")
        connection.execute("SET tcp_keepalives_count = 3")
        deadline = time.monotonic() + wait_seconds
        while True:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
            if row and row[0]:
                break
            if time.monotonic() >= deadline:
                raise LockTimeout(f"another host holds lock {key}")
            time.sleep(1)
        yield connection
    finally:
        connection.close()
