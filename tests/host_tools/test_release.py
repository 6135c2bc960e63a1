"""The release tooling's parts off a host: the record, the slot probe and connection count on
real Unix sockets, and the deploy step's watch over hosts' reports in a real (directory) store.
The whole release runs on booted hosts in tests/boot/test_releases.py."""

from __future__ import annotations

import datetime
import http.server
import json
import socket
import socketserver
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastapi_deploy.app_host.release import (
    ReleaseFailed,
    ReleaseRecord,
    abandoned_key,
    connections,
    probe_slot,
    report_key,
)
from fastapi_deploy.app_host.release_watch import ReleaseNotServed, fleet_state, watch
from fastapi_deploy.app_host.store import LocalStore

RECORD = ReleaseRecord(label="notes-api@1.2.0", requirements="--index-url https://pypi.org/simple/\nnotes-api==1.2.0\n")
NOW = datetime.datetime(2026, 11, 25, 12, 0, tzinfo=datetime.UTC)


def test_a_record_reads_back_and_a_tampered_one_is_refused() -> None:
    assert ReleaseRecord.from_json(RECORD.to_json().encode()) == RECORD
    # The id is a digest of what is installed, written beside it: an edited requirement no
    # longer matches (hand edits, or a record cut short).
    edited = json.loads(RECORD.to_json())
    edited["requirements"] = edited["requirements"].replace("1.2.0", "6.6.6")
    with pytest.raises(ReleaseFailed, match=r"says id 'notes-api-1\.2\.0-[0-9a-f]{12}' but its content is"):
        ReleaseRecord.from_json(json.dumps(edited).encode())
    with pytest.raises(ReleaseFailed, match="is not one"):
        ReleaseRecord.from_json(b'{"label": "x"}')
    with pytest.raises(ReleaseFailed, match="wrong type or range"):
        broken = json.loads(RECORD.to_json()) | {"batch_size": 0}
        ReleaseRecord.from_json(json.dumps(broken).encode())


def test_the_id_follows_what_is_installed_not_how_it_rolls_out() -> None:
    assert ReleaseRecord(RECORD.label, RECORD.requirements, batch_size=4).id == RECORD.id
    assert ReleaseRecord(RECORD.label, RECORD.requirements + "extra==1\n").id != RECORD.id
    assert RECORD.id.startswith("notes-api-1.2.0-")


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = 200 if self.path == "/readyz" and self.headers["Host"] == "api.example.test" else 503
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@pytest.fixture
def slot_socket(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "green.sock")

    class Handler(_Handler):
        def address_string(self) -> str:  # a Unix peer has no host address
            return "unix"

    server = _UnixHTTPServer(path, Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield path
    server.shutdown()
    server.server_close()


def test_the_slot_is_asked_on_its_own_socket_with_the_site_name(slot_socket: str, tmp_path: Path) -> None:
    assert probe_slot(slot_socket, "api.example.test", "/readyz") == 200
    assert probe_slot(slot_socket, "other.example.test", "/readyz") == 503
    assert probe_slot(str(tmp_path / "missing.sock"), "api.example.test", "/readyz") is None


def test_connections_to_a_listening_socket_are_counted(tmp_path: Path) -> None:
    path = str(tmp_path / "blue.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(8)
    clients = []
    try:
        assert connections(path) == 0
        for _ in range(3):
            client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            client.connect(path)
            clients.append(client)
        accepted = [listener.accept()[0] for _ in range(3)]
        assert connections(path) == 3
        clients[0].close()
        accepted[0].close()
        assert connections(path) == 2
        for item in (*clients, *accepted):
            item.close()
        assert connections(path) == 0
    finally:
        listener.close()


def _report(
    store: LocalStore, host: str, serving: str, *, age_seconds: float = 5, state: str = "serving", detail: str = "", release: str = ""
) -> None:
    at = (NOW - datetime.timedelta(seconds=age_seconds)).isoformat()
    body = {
        "host": host, "state": state, "release": release or serving, "serving": serving,
        "serving_label": serving.split("-")[0], "detail": detail, "at": at,
    }  # fmt: skip
    store.put(report_key("api", host), json.dumps(body).encode())


def test_the_watch_counts_live_hosts_only(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    _report(store, "i-new1", RECORD.id)
    _report(store, "i-old", "notes-api-1.1.0-aaaaaaaaaaaa", state="releasing")
    # Removed by the scaling group an hour ago: no longer counts.
    _report(store, "i-gone", "notes-api-1.0.0-bbbbbbbbbbbb", age_seconds=3600)
    state = fleet_state(store, "api", RECORD.id, NOW, RECORD.attempt_id)
    assert state.serving == ("i-new1",)
    assert set(state.behind) == {"i-old"} and "releasing" in state.behind["i-old"]
    assert state.abandoned is None


def test_the_watch_succeeds_when_every_live_host_serves_it(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    _report(store, "i-1", RECORD.id)
    _report(store, "i-2", RECORD.id)
    state = watch(store, "api", RECORD.id, attempt_id=RECORD.attempt_id, min_hosts=2, timeout_seconds=5, now=lambda: NOW, sleep=lambda _: None, say=lambda _: None)
    assert state.serving == ("i-1", "i-2")


def test_an_abandoned_release_fails_the_watch_at_once_naming_the_host(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    _report(store, "i-1", "notes-api-1.1.0-aaaaaaaaaaaa", state="failed", detail="the green slot was not ready within 300s")
    _report(store, "i-2", "notes-api-1.1.0-aaaaaaaaaaaa", state="abandoned")
    store.put(abandoned_key("api", RECORD.attempt_id), json.dumps({"host": "i-1", "reason": "the green slot was not ready within 300s"}).encode())
    with pytest.raises(ReleaseNotServed) as raised:
        watch(store, "api", RECORD.id, attempt_id=RECORD.attempt_id, min_hosts=2, timeout_seconds=600, now=lambda: NOW, sleep=lambda _: None, say=lambda _: None)
    message = str(raised.value)
    assert "abandoned on i-1: the green slot was not ready within 300s" in message
    assert "i-2: abandoned, serving notes" in message


def test_a_watch_that_times_out_names_the_hosts_behind_and_the_missing_ones(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    _report(store, "i-1", RECORD.id)
    with pytest.raises(ReleaseNotServed, match=r"after 0s: 1 host\(s\) serve it; only 1 of at least 2 hosts report"):
        watch(store, "api", RECORD.id, attempt_id=RECORD.attempt_id, min_hosts=2, timeout_seconds=0, now=lambda: NOW, sleep=lambda _: None, say=lambda _: None)
    _report(store, "i-2", "notes-api-1.1.0-aaaaaaaaaaaa", state="releasing")
    with pytest.raises(ReleaseNotServed, match=r"not yet: i-2: releasing, serving notes"):
        watch(store, "api", RECORD.id, attempt_id=RECORD.attempt_id, min_hosts=2, timeout_seconds=0, now=lambda: NOW, sleep=lambda _: None, say=lambda _: None)


def test_a_host_whose_first_release_failed_stops_the_watch_naming_it(tmp_path: Path) -> None:
    """A new host that could not start the app at boot serves nothing: the deploy step says
    so at once instead of waiting out its timeout."""
    store = LocalStore(tmp_path)
    _report(store, "i-1", RECORD.id)
    _report(store, "i-2", "", state="boot-failed", release=RECORD.id, detail="pip exited 1: No matching distribution found for notes-api==1.2.0")
    with pytest.raises(ReleaseNotServed, match=r"i-2 failed to boot: pip exited 1: No matching distribution found"):
        watch(store, "api", RECORD.id, attempt_id=RECORD.attempt_id, min_hosts=1, timeout_seconds=600, now=lambda: NOW, sleep=lambda _: None, say=lambda _: None)


def test_a_boot_failure_of_an_older_release_does_not_fail_the_one_that_fixes_it(tmp_path: Path) -> None:
    """The host failed on the broken record; the new record is the fix, and the host's next
    check will install it: the watch waits for it instead of failing."""
    store = LocalStore(tmp_path)
    _report(store, "i-2", "", state="boot-failed", release="notes-api-1.1.9-cccccccccccc", detail="pip exited 1")
    state = fleet_state(store, "api", RECORD.id, NOW)
    assert state.boot_failed == {} and "i-2" in state.behind


def test_an_abandoned_marker_names_one_attempt_of_a_version() -> None:
    """A new attempt (releaseAttempt) or other rollout settings try the same version again;
    what runs, the id, is the same."""
    again = ReleaseRecord(RECORD.label, RECORD.requirements, attempt=2)
    slower = ReleaseRecord(RECORD.label, RECORD.requirements, ready_timeout_seconds=900)
    assert again.id == slower.id == RECORD.id
    assert len({RECORD.attempt_id, again.attempt_id, slower.attempt_id}) == 3


def test_a_record_from_a_newer_stack_is_still_read() -> None:
    """Running hosts keep their tooling until replaced; a field they do not know is ignored."""
    newer = json.loads(RECORD.to_json()) | {"canary_percent": 10}
    assert ReleaseRecord.from_json(json.dumps(newer).encode()) == RECORD
