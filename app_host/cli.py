"""`app-host <command>`: the entry points cloud-init and the systemd units call."""

from __future__ import annotations

import argparse
import sys

from . import __version__

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
    commands.add_parser("health-gate", help="hold the load balancer's health-check port open while the app answers")
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

        bootstrap(config)
    elif args.command == "health-gate":
        from .health_gate import serve as gate

        gate(config)
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
