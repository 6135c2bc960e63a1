"""`app-host migrate`: run the app's migration command while holding a Postgres advisory lock.

Hosts of a fleet boot together and each runs this before its app starts. The first to take
the session-level lock migrates; the others wait on the lock and then run the same command,
which finds the schema at head and does nothing. Runs with the host's Python and Debian's
python3-psycopg (the app need not use psycopg); the lock key and limits come from the
command line.

usage: app-host migrate --lock-key N --wait-seconds S -- COMMAND [ARG...]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time

import psycopg

from .locks import libpq_url


def _connect(url: str, deadline: float) -> psycopg.Connection[tuple[object, ...]]:
    while True:
        try:
            return psycopg.connect(url, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError as error:
            if time.monotonic() > deadline:
                raise SystemExit(f"migrate-once: database not reachable: {error}") from None
            print("migrate-once: database not reachable yet, retrying", flush=True)
            time.sleep(2)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="app-host migrate")
    parser.add_argument("--lock-key", type=int, required=True)
    parser.add_argument("--wait-seconds", type=float, required=True)
    parser.add_argument("command", nargs="+")
    args = parser.parse_args(argv)

    url = os.environ.get("DATABASE_URL")
    if not url:
        raise SystemExit("migrate-once: DATABASE_URL is not set in the environment file")
    deadline = time.monotonic() + args.wait_seconds

    with _connect(libpq_url(url), deadline) as connection:
        # A bounded try-loop rather than pg_advisory_lock: a stuck peer must not hang boot forever.
        while True:
            row = connection.execute("SELECT pg_try_advisory_lock(%s)", (args.lock_key,)).fetchone()
            if row and row[0]:
                break
            if time.monotonic() > deadline:
                raise SystemExit("migrate-once: another host holds the migration lock; gave up")
            print("migrate-once: another host is migrating, waiting", flush=True)
            time.sleep(1)
        print("migrate-once: lock taken, running migrations", flush=True)
        # The lock is released when this connection closes, whatever the command did.
        return subprocess.run(args.command, check=False).returncode

