"""Error reporting against a stand-in collector on loopback: what the SDK sends is read back
as the Sentry envelope protocol defines it (newline-separated JSON: envelope header, item
header, item payload)."""

import gzip
import http.server
import json
import secrets
import threading
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest
import sentry_sdk
from fastapi.testclient import TestClient

from notes_api.errors import start_error_reporting
from notes_api.main import create_app


class _Collector(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[str, list[dict[str, Any]]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        encoding = self.headers.get("Content-Encoding", "identity")
        assert encoding in ("gzip", "identity"), f"unexpected encoding {encoding}"
        if encoding == "gzip":
            body = gzip.decompress(body)
        lines = [json.loads(line) for line in body.splitlines() if line.strip()]
        self.received.append((self.path, lines))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Collector.received = []
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.fixture
def reporting_off_after() -> Iterator[None]:
    yield
    sentry_sdk.get_client().close()
    sentry_sdk.init(dsn="")  # a client that sends nothing, for the tests that follow


def _events(project: str) -> list[dict[str, Any]]:
    events = []
    for path, lines in _Collector.received:
        assert path == f"/api/{project}/envelope/"
        # Items follow the envelope header in pairs: item header, then its payload.
        items = lines[1:]
        pairs = zip(items[::2], items[1::2], strict=True)
        events += [payload for header, payload in pairs if header["type"] == "event"]
    return events


def test_an_unhandled_error_is_reported_with_release_and_environment(
    collector: int, monkeypatch: pytest.MonkeyPatch, reporting_off_after: None
) -> None:
    monkeypatch.setenv("SENTRY_DSN", f"http://publickey@127.0.0.1:{collector}/42")
    monkeypatch.setenv("SENTRY_RELEASE", "notes-api@0.1.0")
    monkeypatch.setenv("SENTRY_ENVIRONMENT", "prod")
    app = create_app()
    marker = f"boom-{secrets.token_hex(4)}"

    @app.post("/boom")
    def boom(body: dict[str, str]) -> None:
        raise RuntimeError(marker)

    cookie, private = secrets.token_hex(8), secrets.token_hex(8)
    client = TestClient(app, raise_server_exceptions=False)
    response = client.post("/boom", json={"text": private}, headers={"Cookie": f"session={cookie}"})
    assert response.status_code == 500
    sentry_sdk.flush(timeout=10)
    [event] = _events("42")
    [exception] = event["exception"]["values"]
    assert (exception["type"], exception["value"]) == ("RuntimeError", marker)
    assert (event["release"], event["environment"]) == ("notes-api@0.1.0", "prod")
    assert event["transaction"] == "/boom"
    # No cookie value or client address leaves the host (with frame variables on, the
    # cookie goes out in the framework's frames: seen).
    assert cookie not in json.dumps(event)
    # Nor the request's body: a note's text is the user's.
    assert private not in json.dumps(event)
    assert "ip_address" not in json.dumps(event.get("user", {}))


def test_without_a_dsn_nothing_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[dict[str, Any]] = []
    monkeypatch.setattr(sentry_sdk, "init", lambda **options: started.append(options))
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    assert start_error_reporting() is False
    monkeypatch.setenv("SENTRY_DSN", "")
    assert start_error_reporting() is False
    assert started == []
