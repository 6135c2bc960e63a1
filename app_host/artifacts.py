"""Artifacts from the store, accepted only when their SHA-256 is the one the user data names."""

from __future__ import annotations

import time
from pathlib import Path

from .store import Store, StoreUnavailable
from .system import atomic_write, log, sha256_hex

__all__ = ["ARTIFACTS_DIR", "ArtifactRejected", "fetch_artifact"]

ARTIFACTS_DIR = Path("/var/lib/app-host/artifacts")


class ArtifactRejected(Exception):
    """The store has no such artifact, or its content is not what the user data names."""


def fetch_artifact(
    store: Store, key: str, sha256: str, *, into: Path = ARTIFACTS_DIR, wait_seconds: float = 300
) -> Path:
    """Download `key` into `into` (named by its last path part) and check its digest. A store
    that cannot be reached is retried until `wait_seconds` have passed; a missing object or a
    wrong digest is final: code the user data did not name is never installed."""
    target = into / key.rsplit("/", 1)[-1]
    if target.is_file() and sha256_hex(target.read_bytes()) == sha256:
        return target
    deadline = time.monotonic() + wait_seconds
    delay = 1.0
    while True:
        try:
            data = store.get(key)
            break
        except StoreUnavailable as error:
            if time.monotonic() >= deadline:
                raise ArtifactRejected(f"{key}: store unreachable for {wait_seconds:.0f}s: {error}") from None
            log(f"store unreachable, retrying in {delay:.0f}s: {error}")
            time.sleep(delay)
            delay = min(delay * 2, 15)
    if data is None:
        raise ArtifactRejected(f"{key} is not in the {store.describe()}")
    actual = sha256_hex(data)
    if actual != sha256:
        raise ArtifactRejected(f"{key} has SHA-256 {actual}, the user data names {sha256}; not installed")
    atomic_write(target, data, mode=0o644)
    log(f"fetched {key} ({len(data)} bytes, SHA-256 verified)")
    return target
