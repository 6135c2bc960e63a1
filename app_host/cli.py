"""`app-host <command>`: the entry points cloud-init and the systemd units call."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from . import __version__

if TYPE_CHECKING:
    from .config import HostConfig
    from .store import Store

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app-host", description="Tooling of an app host.")
    parser.add_argument("--version", action="version", version=f"app-host {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bootstrap", help="first boot: install the app, start the units and Nginx")
    tls = commands.add_parser("tls", help="the fleet's certificate")
    tls.add_argument("action", choices=("sync", "renew", "auth-hook", "cleanup-hook"))
    tls.add_argument("--wait", type=float, default=0, help="renew: seconds to wait for the fleet's lock")
    tls.add_argument("--force", action="store_true", help="renew: order a new certificate even if not due")
    commands.add_parser("release", help="bring the app to the store's current release (blue/green switch)")
    commands.add_parser("health-gate", help="hold the load balancer's health-check port open while the app answers")
    commands.add_parser("backup", help="dump the app's database into the store, unless a fresh dump exists")
    restore = commands.add_parser(
        "restore", help="restore a dump into a new, empty database and check it (the live one is never touched)"
    )
    restore.add_argument(
        "--into", required=True, metavar="URL",
        help="libpq URL of the new, empty database, without its password (give that in PGPASSWORD)",
    )
    restore.add_argument("--dump", metavar="STAMP", help="the dump's time, such as 20261125T030000Z (default: the newest)")
    commands.add_parser("acme-responder", help="answer HTTP-01 challenges from the store (systemd socket)")
    # Parsed by the migrate module itself (its own options come before the command).
    commands.add_parser("migrate", help="run the migration command under the fleet's advisory lock")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # Imports per command: gunicorn loads app_host.worker from this same archive, and the
    # migration runs as the service user without the root-only settings.
    if argv[:1] == ["migrate"]:
        from .migrate import main as migrate

        return migrate(argv[1:])
    args = _parser().parse_args(argv)

    from .config import HostConfig
    from .system import set_log_prefix

    set_log_prefix(f"app-host {args.command}" + (f" {args.action}" if args.command == "tls" else ""))
    config = HostConfig.load()
    if args.command == "bootstrap":
        from .bootstrap import bootstrap
        from .release import ReleaseFailed
        from .system import log

        try:
            bootstrap(config)
        except ReleaseFailed as error:
            log(f"the host is up but its app is not: {error}")
            return 1
    elif args.command == "release":
        return _release(config)
    elif args.command == "health-gate":
        from .health_gate import serve as gate

        gate(config)
    elif args.command in ("backup", "restore"):
        return _backups(config, args)
    elif args.command == "acme-responder":
        from .acme_responder import serve

        serve(config)
    elif args.command == "tls":
        from . import tls
        from .config import StoreConfig
        from .store import open_store

        if args.action == "sync":
            tls.sync(config, open_store(StoreConfig.load()))
        elif args.action == "renew":
            tls.renew(config, wait_seconds=args.wait, force=args.force)
        elif args.action == "auth-hook":
            tls.auth_hook(config)
        else:
            tls.cleanup_hook(config)
    return 0


def _release(config: HostConfig) -> int:
    import psycopg

    from .config import StoreConfig
    from .locks import LockTimeout
    from .release import ReleaseFailed, converge
    from .store import StoreUnavailable, open_store
    from .system import log

    try:
        log(converge(config, open_store(StoreConfig.load())))
    except LockTimeout as error:
        log(f"waiting for the fleet: {error}; the timer tries again")
        return 0
    except (ReleaseFailed, StoreUnavailable) as error:
        log(f"failed: {error}")
        return 1
    except psycopg.Error as error:
        # The fleet's batch places are locks in the database.
        log(f"database unreachable, the timer tries again: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}")
        return 1
    return 0


def _backups(config: HostConfig, args: argparse.Namespace) -> int:
    from .backup import BackupRefused, restore
    from .config import StoreConfig
    from .locks import database_url_from_env_file
    from .store import open_store
    from .system import log

    if not config.backup_prefix:
        log("no BACKUP_PREFIX in host.conf: this stack takes no dumps")
        return 2
    import psycopg

    from .store import StoreUnavailable

    if args.command == "restore" and _has_password(args.into):
        # argv is in the process list and in sudo's log.
        log("refused: --into holds a password; give the URL without it and the password in PGPASSWORD")
        return 2
    url = database_url_from_env_file(config.env_file)
    store = open_store(StoreConfig.load())
    if args.command == "backup":
        return _backup_run(config, url, store)
    try:
        record = restore(url, store, config.backup_prefix, args.into, stamp=args.dump)
    except BackupRefused as error:
        log(f"refused: {error}")
        return 1
    except (StoreUnavailable, psycopg.Error) as error:
        log(f"failed: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}")
        return 1
    log(
        f"restored {record.key} (schema {record.schema_version}, rows {record.row_counts}) and checked it. "
        "To switch: set the app's DATABASE_URL to the new database (the stack's database settings, "
        "then `pulumi up`), or rename the databases while the app is stopped."
    )
    return 0


def _backup_run(config: HostConfig, url: str, store: Store) -> int:
    """One scheduled run; its outcome and the newest dump go to the metrics either way."""
    import datetime

    import psycopg

    from .backup import BackupRefused, backup, newest_dump
    from .metrics import backup_status
    from .store import StoreUnavailable
    from .system import log

    ok, record = False, None
    try:
        record = backup(config.app_name, url, store, config.backup_prefix)
        log(f"dumped {record.size} bytes to {record.key}" if record else "a fresh dump exists or another host is taking it")
        ok = True
    except BackupRefused as error:
        log(f"refused: {error}")
    except (StoreUnavailable, psycopg.Error) as error:
        log(f"failed: {str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__}")
    finally:
        # A run that dumped knows the newest dump; otherwise the store tells.
        newest = record.created if record is not None else newest_dump(store, config.backup_prefix)
        backup_status(ok, newest, datetime.datetime.now(datetime.UTC))
    return 0 if ok else 1


def _has_password(url: str) -> bool:
    from psycopg.conninfo import conninfo_to_dict

    from .locks import libpq_url

    try:
        return bool(conninfo_to_dict(libpq_url(url)).get("password"))
    except Exception:  # a malformed URL is pg_restore's to report
        return False
