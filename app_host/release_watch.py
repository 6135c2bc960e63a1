"""The deploy step after a new release record: wait until every live host of the stack serves
it, or fail naming the hosts and why.

Runs where `pulumi up` runs (a pulumi-command local command, components/release_watch.py),
reading what the hosts report into the store (app_host.release.report). A host is live when
its report is fresh (hosts report at every check, about every 20-25 s); hosts the group
removed stop reporting and drop out. A release abandoned on any host fails the watch at once.

    python -m fastapi_deploy.app_host.release_watch   (settings in the environment, below)
"""

from __future__ import annotations

import datetime
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .config import ConfigError, StoreConfig
from .release import REPORTS_PREFIX, abandonment
from .store import Store, StoreUnavailable, open_store

__all__ = ["FleetState", "ReleaseNotServed", "fleet_state", "main", "watch"]

# A report older than this is a host that is gone (or cannot reach the store).
FRESH_SECONDS = 120


class ReleaseNotServed(Exception):
    """The release was abandoned, or not every live host serves it in time."""


@dataclass(frozen=True)
class FleetState:
    serving: tuple[str, ...]
    # Live hosts not on the release yet: host -> what its report says.
    behind: dict[str, str]
    abandoned: str | None
    # Live hosts whose first release did not start: host -> why.
    boot_failed: dict[str, str] = field(default_factory=dict)

    def describe(self) -> str:
        behind = "; ".join(f"{host}: {state}" for host, state in sorted(self.behind.items()))
        return f"{len(self.serving)} host(s) serve it" + (f"; not yet: {behind}" if behind else "")


def _age_seconds(stamp: str, now: datetime.datetime) -> float:
    try:
        return (now - datetime.datetime.fromisoformat(stamp)).total_seconds()
    except (TypeError, ValueError):
        return float("inf")


def fleet_state(store: Store, app_name: str, release_id: str, now: datetime.datetime, attempt_id: str = "") -> FleetState:
    """Who serves `release_id`; `attempt_id` (ReleaseRecord.attempt_id) names its abandoned
    marker."""
    serving: list[str] = []
    behind: dict[str, str] = {}
    boot_failed: dict[str, str] = {}
    for key in store.keys(f"{REPORTS_PREFIX}{app_name}/hosts/"):
        data = store.get(key)
        try:
            report = json.loads(data or b"")
        except ValueError:
            continue
        if _age_seconds(report.get("at", ""), now) > FRESH_SECONDS:
            continue
        host = str(report.get("host") or key.rsplit("/", 1)[-1].removesuffix(".json"))
        # About this release: an older one's failure is what a new record may be fixing.
        if report.get("state") == "boot-failed" and report.get("release") == release_id:
            boot_failed[host] = str(report.get("detail") or "no reason given")
        if report.get("serving") == release_id:
            serving.append(host)
        else:
            detail = f" ({report['detail']})" if report.get("detail") else ""
            behind[host] = f"{report.get('state', 'unknown')}, serving {report.get('serving_label') or 'nothing'}{detail}"
    abandoned = abandonment(store, app_name, attempt_id or release_id)
    return FleetState(tuple(sorted(serving)), behind, abandoned, boot_failed)


def watch(
    store: Store,
    app_name: str,
    release_id: str,
    *,
    attempt_id: str,
    min_hosts: int,
    timeout_seconds: float,
    interval_seconds: float = 5,
    now: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.UTC),
    sleep: Callable[[float], None] = time.sleep,
    say: Callable[[str], None] = print,
) -> FleetState:
    """Until at least `min_hosts` live hosts serve `release_id` and none is behind."""
    deadline = time.monotonic() + timeout_seconds
    last = ""
    while True:
        state: FleetState | None = None
        try:
            state = fleet_state(store, app_name, release_id, now(), attempt_id)
        except StoreUnavailable as error:
            problem = f"store unreachable: {error}"
        else:
            problem = ""
            if state.abandoned:
                raise ReleaseNotServed(f"release {release_id} {state.abandoned}; {state.describe()}")
            if state.boot_failed:
                failures = "; ".join(f"{host} failed to boot: {reason}" for host, reason in sorted(state.boot_failed.items()))
                raise ReleaseNotServed(f"release {release_id}: {failures}")
            if len(state.serving) >= min_hosts and not state.behind:
                return state
        line = problem or (state.describe() if state else "")
        if line != last:
            say(f"release {release_id}: {line}")
            last = line
        if time.monotonic() >= deadline:
            raise ReleaseNotServed(
                f"release {release_id} not served by every host after {timeout_seconds:.0f}s: {line}"
                + ("" if state is None or len(state.serving) + len(state.behind) >= min_hosts
                   else f"; only {len(state.serving) + len(state.behind)} of at least {min_hosts} hosts report")
            )
        sleep(interval_seconds)


def main() -> int:
    environment = dict(os.environ)
    try:
        store = open_store(StoreConfig.from_values(environment, "the environment"))
        app_name, release_id = environment["RELEASE_APP"], environment["RELEASE_ID"]
        attempt_id = environment["RELEASE_ATTEMPT_ID"]
        min_hosts = int(environment.get("RELEASE_MIN_HOSTS", "1"))
        timeout = float(environment.get("RELEASE_TIMEOUT_SECONDS", "900"))
    except (ConfigError, KeyError, ValueError) as error:
        print(f"release watch: bad settings: {error}", file=sys.stderr)
        return 2
    try:
        state = watch(store, app_name, release_id, attempt_id=attempt_id, min_hosts=min_hosts, timeout_seconds=timeout)
    except ReleaseNotServed as error:
        print(f"release watch: {error}", file=sys.stderr)
        return 1
    print(f"release {release_id}: served by {', '.join(state.serving)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
