"""`app-host <command>`: the entry points cloud-init and the systemd units call."""

from __future__ import annotations

import argparse
import os
import sys

from . import __version__

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="app-host", description="Tooling of an app host.")
    parser.add_argument("--version", action="version", version=f"app-host {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("bootstrap", help="first boot: install the app, start the units and Nginx")
    certificate = commands.add_parser("certificate", help="the host's TLS certificate")
    certificate.add_argument("action", choices=("placeholder", "obtain", "install"))
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

    set_log_prefix(f"app-host {args.command}")
    config = HostConfig.load()
    if args.command == "bootstrap":
        from .bootstrap import bootstrap

        bootstrap(config)
    elif args.command == "certificate":
        from . import certificates

        if args.action == "placeholder":
            certificates.placeholder(config)
        elif args.action == "obtain":
            certificates.obtain(config)
        else:
            certificates.install(config, os.environ.get("RENEWED_LINEAGE"))
    return 0
