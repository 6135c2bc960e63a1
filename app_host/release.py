"""Releases of the app on a host: two slots (blue and green), one serving, the other taking
the next release, switched without a failed request.

The stack writes the current release (`ReleaseRecord`) into the store; the user data names no
version, so a new version changes one object and no host. Every host converges on the record
(`app-host release`, from a timer):

1. install the release into the idle slot's own virtualenv;
2. run the migrations from it (under the fleet's advisory lock; the command finds the schema
   at head on every host after the first);
3. start the slot's gunicorn on the slot's own socket and wait until every worker has
   imported the app and the readiness path answers 200;
4. switch: Nginx's upstream is one symlink, replaced atomically, so new upstream connections
   reach the new slot at once and no reload closes a client's kept-alive connection;
5. drain: Nginx retires its kept-alive connections to the old slot by itself
   (keepalive_time, keepalive_timeout); once none is left the old gunicorn stops.

Across a fleet, at most `batch_size` hosts are between steps 1 and 4 at once (advisory locks).
A release that fails on a host (install, migration or readiness) is abandoned there and for
the fleet: a marker in the store stops every other host from trying it, the old slot keeps
serving, and the host's report says why. Rollback is the same path with the previous record.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from .artifacts import ArtifactRejected, fetch_artifact
from .config import HostConfig
from .store import Store, StoreUnavailable
from .system import CommandFailed, atomic_write, log, run, systemctl, warn

__all__ = [
    "ACTIVE_DIR",
    "RELEASES_PREFIX",
    "REPORTS_PREFIX",
    "SLOTS",
    "ReleaseFailed",
    "ReleaseRecord",
    "UnixHTTPConnection",
    "abandoned_key",
    "abandonment",
    "active_link",
    "converge",
    "first_release",
    "migrate_unit",
    "record_key",
    "report_key",
    "slot_dir",
    "slot_socket",
    "slot_units",
    "worker_markers",
]

SLOTS = ("blue", "green")
# Written by the stack (hosts may only read it): what the fleet should run.
RELEASES_PREFIX = "releases/"
# Written by the hosts: what each runs, and releases abandoned after a failure.
REPORTS_PREFIX = "release-reports/"
# The symlink Nginx's upstream names; persistent, so a reboot comes back on the same slot.
ACTIVE_DIR = Path("/var/lib/app-host/active")
# Longer than Nginx keeps an upstream connection (keepalive_time, keepalive_timeout): by then
# every connection to the old slot is closed from Nginx's side.
DRAIN_SECONDS = 45
DRAIN_GRACE_SECONDS = 2
# How long a host waits for a batch place before trying again on the next timer run.
BATCH_WAIT_SECONDS = 240
# Reports while a host works on a release: well inside the watch's freshness window.
HEARTBEAT_SECONDS = 30
# One release step at a time on a host (the first boot's and the timer's).
HOST_LOCK = Path("/run/app-host/release.lock")


class ReleaseFailed(Exception):
    """A release could not be installed, migrated or made ready on this host."""


def record_key(app_name: str) -> str:
    return f"{RELEASES_PREFIX}{app_name}/current.json"


def report_key(app_name: str, host: str) -> str:
    return f"{REPORTS_PREFIX}{app_name}/hosts/{host}.json"


def abandoned_key(app_name: str, release_id: str) -> str:
    return f"{REPORTS_PREFIX}{app_name}/abandoned/{release_id}.json"


def slot_dir(app_name: str, slot: str) -> Path:
    return Path(f"/opt/{app_name}/{slot}")


def slot_socket(app_name: str, slot: str) -> str:
    return f"/run/{app_name}/{slot}.sock"


def active_link(app_name: str) -> Path:
    return ACTIVE_DIR / f"{app_name}.sock"


_LABEL = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class ReleaseRecord:
    """One release of the app: what pip installs, and how the fleet rolls it out."""

    # For people and error reports: 'name@version'.
    label: str
    # The slot's requirements file: index options, the app server, the app's own line.
    requirements: str
    # The app's file in the store when it ships as one ('' for a pin from an index).
    artifact_key: str = ""
    artifact_sha256: str = ""
    # Hosts of the fleet switching at once.
    batch_size: int = 1
    # How long a new slot may take to answer its readiness path before it is abandoned.
    ready_timeout_seconds: int = 300
    # Raised to try a version again after it was abandoned (releaseAttempt).
    attempt: int = 1

    @property
    def id(self) -> str:
        """Changes with what is installed, not with how it is rolled out."""
        what = json.dumps({"requirements": self.requirements, "artifact_sha256": self.artifact_sha256}, sort_keys=True)
        return f"{_LABEL.sub('-', self.label)[:60]}-{hashlib.sha256(what.encode()).hexdigest()[:12]}"

    @property
    def attempt_id(self) -> str:
        """This try of the release: an abandoned marker names it, so a new attempt (or other
        rollout settings) tries the same version again."""
        whole = json.dumps(asdict(self), sort_keys=True)
        return f"{self.id}-{hashlib.sha256(whole.encode()).hexdigest()[:8]}"

    def to_json(self) -> str:
        return json.dumps({**asdict(self), "id": self.id}, indent=2, sort_keys=True) + "\n"

    @classmethod
    def from_json(cls, data: bytes) -> ReleaseRecord:
        """Parse a record; a record whose id does not match its content is refused (cut short
        or corrupted; the id is a plain digest, no signature: who may write the bucket's
        releases/ prefix decides what hosts run)."""
        try:
            values = json.loads(data)
            stated = values.pop("id")
            # Fields a newer stack added are ignored: hosts keep their tooling until replaced.
            known = {name: value for name, value in values.items() if name in cls.__dataclass_fields__}
            record = cls(**known)
        except (ValueError, TypeError, KeyError, AttributeError) as error:
            raise ReleaseFailed(f"the release record is not one: {error}") from None
        if not (
            isinstance(record.label, str)
            and isinstance(record.requirements, str)
            and isinstance(record.batch_size, int)
            and record.batch_size >= 1
            and isinstance(record.ready_timeout_seconds, int)
            and record.ready_timeout_seconds >= 1
            and isinstance(record.attempt, int)
        ):
            raise ReleaseFailed("the release record has a field of the wrong type or range")
        if stated != record.id:
            raise ReleaseFailed(f"the release record says id {stated!r} but its content is {record.id!r}")
        return record


# --- this host's slots -----------------------------------------------------------------------


def active_slot(app_name: str) -> str | None:
    try:
        target = os.readlink(active_link(app_name))
    except OSError:
        return None
    for slot in SLOTS:
        if target == slot_socket(app_name, slot):
            return slot
    return None


def slot_release(app_name: str, slot: str) -> ReleaseRecord | None:
    try:
        return ReleaseRecord.from_json((slot_dir(app_name, slot) / "release.json").read_bytes())
    except (OSError, ReleaseFailed):
        return None


def slot_units(app_name: str, slot: str) -> tuple[str, str]:
    """The slot's socket and app server units ('' for the slot: the templates)."""
    return f"{app_name}@{slot}.socket", f"{app_name}@{slot}.service"


def migrate_unit(app_name: str, slot: str) -> str:
    """The slot's migration unit ('' for the slot: the template)."""
    return f"{app_name}-migrate@{slot}.service"


def worker_markers(app_name: str, slot: str) -> str:
    """The slot's runtime directory (under /run), where each worker leaves a file once it has
    imported the app."""
    return f"{app_name}-{slot}"


def _stop_slot(app_name: str, slot: str) -> None:
    """The slot's app, its socket and its migration unit (which stays active after a run:
    left so, a later release into the slot would skip its migrations)."""
    socket_unit, service_unit = slot_units(app_name, slot)
    for unit in (service_unit, socket_unit, migrate_unit(app_name, slot)):
        systemctl("stop", unit, check=False)


def host_id() -> str:
    """The cloud's instance id (what the deployer sees in the console), else the host name."""
    try:
        value = Path("/var/lib/cloud/data/instance-id").read_text().strip()
    except OSError:
        value = ""
    return re.sub(r"[^A-Za-z0-9_.-]", "-", value or socket.gethostname())


def report(config: HostConfig, store: Store, state: str, release: ReleaseRecord | None, detail: str = "") -> None:
    """Tell the store what this host serves; the stack's deploy step reads these."""
    serving = slot_release(config.app_name, active_slot(config.app_name) or "")
    host = host_id()
    body = {
        "host": host,
        "state": state,
        "release": release.id if release else "",
        "serving": serving.id if serving else "",
        "serving_label": serving.label if serving else "",
        "detail": detail[-500:],
        "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
    }
    try:
        store.put(report_key(config.app_name, host), json.dumps(body, sort_keys=True).encode(), "application/json")
    except StoreUnavailable as error:
        warn(f"could not report to the store: {error}")


def read_record(config: HostConfig, store: Store) -> ReleaseRecord | None:
    data = store.get(record_key(config.app_name))
    return None if data is None else ReleaseRecord.from_json(data)


def install(config: HostConfig, store: Store, record: ReleaseRecord, slot: str) -> None:
    """A fresh virtualenv for `record` in `slot` (whatever was there goes)."""
    directory = slot_dir(config.app_name, slot)
    _stop_slot(config.app_name, slot)
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o755, parents=True)
    if record.artifact_key:
        # The app's own file, pinned by its digest; the requirements name it at this path.
        fetch_artifact(store, record.artifact_key, record.artifact_sha256)
    requirements = directory / "requirements.txt"
    # Root only: the index URL may hold its password (pip runs as root).
    atomic_write(requirements, record.requirements.encode(), mode=0o600)
    venv = directory / "venv"
    log(f"installing {record.label} ({record.id}) into the {slot} slot")
    run(["python3", "-m", "venv", str(venv)])
    run(
        [
            str(venv / "bin" / "pip"), "install", "--no-cache-dir", "--disable-pip-version-check",
            "--requirement", str(requirements),
        ]
    )  # fmt: skip
    # The service user runs the code but may not change it.
    run(["chown", "-R", "root:root", str(directory)], quiet=True)
    run(["chmod", "-R", "go-w", str(directory)], quiet=True)
    # The release's name for the app (and its error reports); the app's own environment file
    # is read after this one, so a value set there wins.
    quoted = record.label.replace("\\", "\\\\").replace('"', '\\"')
    atomic_write(directory / "release.env", f'APP_RELEASE="{quoted}"\nSENTRY_RELEASE="{quoted}"\n'.encode())
    # Last: a slot with release.json is completely installed.
    atomic_write(directory / "release.json", record.to_json().encode(), mode=0o600)


def _start_migration(config: HostConfig, slot: str, timeout_seconds: float) -> None:
    """The slot's migration unit, once: a release whose migration fails is abandoned (the
    unit's own retries are for first boots, which have nothing else to serve)."""
    unit = migrate_unit(config.app_name, slot)
    systemctl("reset-failed", unit, check=False)
    systemctl("start", "--no-block", unit)
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        state = _unit_properties(unit, "ActiveState", "Result", "NRestarts")
        if state["ActiveState"] == "active":
            return
        if state["Result"] not in ("", "success") or state["NRestarts"] not in ("", "0"):
            systemctl("stop", unit, check=False)
            raise ReleaseFailed(f"the migration failed ({state['Result']}): see journalctl -u {unit}")
        time.sleep(1)
    systemctl("stop", unit, check=False)
    raise ReleaseFailed(f"the migration did not finish within {timeout_seconds:.0f}s: see journalctl -u {unit}")


def _unit_properties(unit: str, *names: str) -> dict[str, str]:
    output = run(["systemctl", "show", unit, *(f"--property={name}" for name in names)], check=False, quiet=True).stdout
    values = dict(line.split("=", 1) for line in output.splitlines() if "=" in line)
    return {name: values.get(name, "") for name in names}


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a Unix socket (the app's slots; the tests' Docker engine)."""

    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self._path)


def probe_slot(socket_path: str, domain: str, path: str, timeout_seconds: float = 5) -> int | None:
    """The status the app in a slot answers for `path`, asked on its own socket as Nginx
    would ask it; None when it does not answer."""
    connection = UnixHTTPConnection(socket_path, timeout_seconds)
    try:
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", domain)
        connection.putheader("X-Forwarded-Proto", "https")
        connection.putheader("User-Agent", "app-host-release")
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        connection.close()


def _children(pid: int) -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            # The parent pid is the second field after the parenthesised command name.
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.add(int(entry.name))
    return found


def workers_ready(config: HostConfig, slot: str) -> tuple[int, int]:
    """(workers that have imported the app, workers) of the slot's gunicorn. Each worker
    leaves a marker once the app is imported (app_host.worker)."""
    main = int(_unit_properties(slot_units(config.app_name, slot)[1], "MainPID")["MainPID"] or 0)
    if not main:
        return 0, 0
    workers = _children(main)
    markers = Path("/run") / worker_markers(config.app_name, slot)
    try:
        marked = {int(item.name) for item in markers.iterdir() if item.name.isdigit()}
    except OSError:
        marked = set()
    return len(workers & marked), len(workers)


def start_and_wait_ready(config: HostConfig, record: ReleaseRecord, slot: str) -> float:
    """Start the slot and wait until every worker has the app and the readiness path answers
    200. Returns the seconds it took."""
    started = time.monotonic()
    deadline = started + record.ready_timeout_seconds
    socket_unit, service_unit = slot_units(config.app_name, slot)
    for unit in (socket_unit, service_unit):
        systemctl("reset-failed", unit, check=False)
    systemctl("start", socket_unit)
    systemctl("start", "--no-block", service_unit)
    last = "no answer"
    while time.monotonic() < deadline:
        ready, workers = workers_ready(config, slot)
        status = probe_slot(slot_socket(config.app_name, slot), config.primary_domain, config.readiness_path)
        if status == 200 and workers and ready == workers:
            return time.monotonic() - started
        last = f"readiness {status or 'no answer'}, {ready} of {workers} workers with the app"
        if _unit_properties(service_unit, "ActiveState")["ActiveState"] == "failed":
            break
        time.sleep(0.5)
    raise ReleaseFailed(
        f"the {slot} slot was not ready within {record.ready_timeout_seconds}s ({last}): "
        f"see journalctl -u {service_unit}"
    )


def switch(config: HostConfig, slot: str) -> None:
    """Point Nginx's upstream at `slot`, atomically, and make it the slot that boots."""
    # Boot order first: a failure here leaves the old slot serving and booting.
    systemctl("enable", *slot_units(config.app_name, slot))
    link = active_link(config.app_name)
    link.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    partial = link.with_name(f".{link.name}.new")
    partial.unlink(missing_ok=True)
    partial.symlink_to(slot_socket(config.app_name, slot))
    os.replace(partial, link)
    for other in SLOTS:
        if other != slot:
            systemctl("disable", *slot_units(config.app_name, other), check=False)


def connections(socket_path: str) -> int:
    """Open connections accepted on a listening Unix socket (/proc/net/unix: state 03 is
    connected; accepted sockets carry the listener's path)."""
    count = 0
    with open("/proc/net/unix") as table:
        next(table)
        for line in table:
            fields = line.split()
            if len(fields) >= 8 and fields[5] == "03" and fields[7] == socket_path:
                count += 1
    return count


def drain(config: HostConfig, slot: str, wait_seconds: float = DRAIN_SECONDS) -> None:
    """Stop `slot` once Nginx holds no connection to it (or after `wait_seconds`; gunicorn's
    graceful stop then lets requests in progress finish)."""
    path = slot_socket(config.app_name, slot)
    deadline = time.monotonic() + wait_seconds
    # A connection Nginx opened just before the switch may still wait in the backlog (not
    # counted until accepted): give it time to be accepted and answered.
    time.sleep(DRAIN_GRACE_SECONDS)
    while connections(path) and time.monotonic() < deadline:
        time.sleep(0.5)
    left = connections(path)
    _stop_slot(config.app_name, slot)
    log(f"the {slot} slot stopped ({left} connections left at the stop)")


@contextlib.contextmanager
def batch_place(config: HostConfig, batch_size: int, wait_seconds: float) -> Iterator[None]:
    """One of the fleet's `batch_size` places for a host switching release."""
    from .locks import LockTimeout, advisory_lock, database_url_from_env_file, lock_key

    url = database_url_from_env_file(config.env_file)
    deadline = time.monotonic() + wait_seconds
    while True:
        for place in range(batch_size):
            try:
                with advisory_lock(url, lock_key(f"{config.app_name}:release:{place}"), wait_seconds=0):
                    yield
                    return
            except LockTimeout:
                continue
        if time.monotonic() >= deadline:
            raise LockTimeout(f"all {batch_size} release places of the fleet stayed taken for {wait_seconds:.0f}s")
        time.sleep(2)


def abandonment(store: Store, app_name: str, attempt_id: str) -> str | None:
    """'abandoned on <host>: <reason>' when that attempt of a release was abandoned."""
    data = store.get(abandoned_key(app_name, attempt_id))
    if data is None:
        return None
    try:
        marker = json.loads(data)
        return f"abandoned on {marker.get('host')}: {marker.get('reason')}"
    except ValueError:
        return "abandoned"


def _abandoned(config: HostConfig, store: Store, record: ReleaseRecord) -> str | None:
    return abandonment(store, config.app_name, record.attempt_id)


def _abandon(config: HostConfig, store: Store, record: ReleaseRecord, reason: str) -> None:
    body = {"host": host_id(), "reason": reason[-500:], "at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")}
    store.put(abandoned_key(config.app_name, record.attempt_id), json.dumps(body).encode(), "application/json")


def _wait_for_record(config: HostConfig, store: Store, wait_seconds: float) -> ReleaseRecord:
    deadline = time.monotonic() + wait_seconds
    delay = 1.0
    while True:
        try:
            record = read_record(config, store)
            if record is not None:
                return record
            problem = f"{record_key(config.app_name)} is not in the {store.describe()} yet"
        except StoreUnavailable as error:
            problem = f"store unreachable: {error}"
        if time.monotonic() >= deadline:
            raise ReleaseFailed(f"no release to install after {wait_seconds:.0f}s: {problem}")
        log(f"{problem}; retrying in {delay:.0f}s")
        time.sleep(delay)
        delay = min(delay * 2, 15)


@contextlib.contextmanager
def host_lock(path: Path = HOST_LOCK) -> Iterator[None]:
    """Held by whatever installs or switches on this host, so the timer never works on a
    slot while the first boot does."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def first_release(config: HostConfig, store: Store, wait_seconds: float = 600) -> ReleaseRecord:
    """First boot: install the current release into the blue slot and start it. No readiness
    wait: there is nothing older to keep serving, and an app whose database is away still
    starts (readiness 503) and migrates once the database is back.

    A failure is reported as 'boot-failed' with its reason (the deploy step's watch names the
    host and stops), and the timer tries again: an index or a store that was down heals."""
    record = _wait_for_record(config, store, wait_seconds)
    abandoned = _abandoned(config, store, record)
    if abandoned:
        # The fleet keeps the previous release; this host has none to fall back on, so it
        # serves nothing rather than what failed elsewhere, and says so until a new record.
        report(config, store, "boot-failed", record, f"the current release was {abandoned}")
        raise ReleaseFailed(f"the current release was {abandoned}; set another version")
    try:
        install(config, store, record, SLOTS[0])
        switch(config, SLOTS[0])
        socket_unit, service_unit = slot_units(config.app_name, SLOTS[0])
        systemctl("start", socket_unit)
        # Pulls in the slot's migration first (Wants/After); fails here if the app cannot start.
        systemctl("start", service_unit)
    except (CommandFailed, ArtifactRejected, OSError, subprocess.TimeoutExpired) as error:
        reason = str(error)
        # Nothing half-installed stays pointed at: the next try starts over.
        active_link(config.app_name).unlink(missing_ok=True)
        report(config, store, "boot-failed", record, reason)
        raise ReleaseFailed(f"the first release did not start: {reason}") from None
    report(config, store, "serving", record)
    return record


@contextlib.contextmanager
def heartbeat(
    config: HostConfig, store: Store, state: str, record: ReleaseRecord, every_seconds: float = HEARTBEAT_SECONDS
) -> Iterator[Callable[[str], None]]:
    """Report `state` now and again every `every_seconds` while the block runs (a wait for a
    batch place, an install, a migration: minutes in which the deploy step must still see
    this host as alive). The block changes the state through the function it gets; '' stops."""
    current = [state]
    stop = threading.Event()

    def beat(new_state: str) -> None:
        current[0] = new_state
        if new_state:
            report(config, store, new_state, record)

    def run() -> None:
        while not stop.wait(every_seconds):
            if current[0]:
                report(config, store, current[0], record)

    beat(state)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield beat
    finally:
        stop.set()
        thread.join(timeout=every_seconds + 15)


def converge(config: HostConfig, store: Store, *, batch_wait_seconds: float = BATCH_WAIT_SECONDS) -> str:
    """Bring this host to the store's current release; returns what happened, in a word."""
    with host_lock():
        return _converge(config, store, batch_wait_seconds)


def _converge(config: HostConfig, store: Store, batch_wait_seconds: float) -> str:
    record = read_record(config, store)
    if record is None:
        log(f"no release in the store ({record_key(config.app_name)}); nothing to do")
        return "no-record"
    active = active_slot(config.app_name)
    if active is None:
        # The first boot's release failed (or never ran): try again.
        first_release(config, store, wait_seconds=0)
        return "installed"
    serving = slot_release(config.app_name, active)
    if serving is not None and serving.id == record.id:
        report(config, store, "serving", record)
        return "current"
    reason = _abandoned(config, store, record)
    if reason:
        report(config, store, "abandoned", record, reason)
        return "abandoned"
    target = SLOTS[1] if active == SLOTS[0] else SLOTS[0]
    with heartbeat(config, store, "waiting for a batch place", record) as beat, batch_place(
        config, record.batch_size, batch_wait_seconds
    ):
        # Another host may have failed it while this one waited for a place.
        reason = _abandoned(config, store, record)
        if reason:
            beat("")
            report(config, store, "abandoned", record, reason)
            return "abandoned"
        beat("releasing")
        try:
            install(config, store, record, target)
            if config.migration:
                _start_migration(config, target, record.ready_timeout_seconds)
            seconds = start_and_wait_ready(config, record, target)
            switch(config, target)
        except (ReleaseFailed, CommandFailed, ArtifactRejected, OSError, subprocess.TimeoutExpired) as error:
            beat("")
            reason = str(error)
            warn(f"release {record.id} abandoned: {reason}")
            _stop_slot(config.app_name, target)
            _abandon(config, store, record, reason)
            report(config, store, "failed", record, reason)
            raise ReleaseFailed(reason) from None
        beat("")
        log(f"switched to {record.label} ({record.id}) in the {target} slot, ready after {seconds:.1f}s")
        report(config, store, "serving", record)
    drain(config, active)
    return "switched"
