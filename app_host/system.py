"""Running commands and talking to systemd, with one log line per step.

Every subcommand logs to stdout/stderr, which cloud-init (first boot) and systemd (units)
send to the journal, prefixed with the subcommand so `journalctl | grep app-host` reads as a
story of the host.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = [
    "CommandFailed",
    "atomic_write",
    "log",
    "run",
    "sha256_hex",
    "systemctl",
]

_PREFIX = "app-host"


def set_log_prefix(prefix: str) -> None:
    global _PREFIX
    _PREFIX = prefix


def log(message: str) -> None:
    print(f"{_PREFIX}: {message}", flush=True)


def warn(message: str) -> None:
    print(f"{_PREFIX}: {message}", file=sys.stderr, flush=True)


class CommandFailed(Exception):
    """A command exited with an error; the message ends with its output."""


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float | None = 900,
    quiet: bool = False,
) -> subprocess.CompletedProcess[str]:
    if not quiet:
        log("running " + " ".join(argv))
    result = subprocess.run(
        list(argv),
        env=dict(env) if env is not None else None,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        output = (result.stdout + result.stderr).strip().splitlines()[-20:]
        raise CommandFailed(f"{argv[0]} exited {result.returncode}: " + "\n".join(output))
    return result


def systemctl(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return run(["systemctl", *args], check=check)


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def atomic_write(path: Path, data: bytes, mode: int = 0o644, group: str | None = None) -> None:
    """Write `path` so that readers see the old or the new content, never half of it. Mode
    and group are set on the file before it takes the name, so no reader ever finds it with
    the wrong ones."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, partial = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        if group is not None:
            import grp

            os.fchown(handle, 0, grp.getgrnam(group).gr_gid)
        os.fchmod(handle, mode)
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
