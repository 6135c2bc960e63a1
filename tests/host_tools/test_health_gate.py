"""The health gate off the host: what counts as the app answering, when the port opens and
closes, and the probe against a real TLS server on loopback."""

from __future__ import annotations

import http.server
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest

from fastapi_deploy.app_host.config import HostConfig
from fastapi_deploy.app_host.health_gate import Gate, GateSettings, answered_by_app, probe_app
from fastapi_deploy.app_host.units import tooling_units
from fastapi_deploy.cloud_init import render_user_data
from tests.boot.harness import free_port
from tests.host_specs import acme_spec

DOMAIN = "api.example.test"


def _host_config(tmp_path: Path, **overrides: object) -> HostConfig:
    path = tmp_path / "host.conf"
    path.write_text(render_user_data(acme_spec(**overrides)).file("/etc/app-host/host.conf").content)
    return HostConfig.load(path)


def test_only_a_host_behind_a_load_balancer_gets_a_gate(tmp_path: Path) -> None:
    behind = _host_config(tmp_path, health_gate_port=8090)
    # The sample app's liveness path: it answers without touching the database.
    assert (behind.health_gate_port, behind.health_probe_path) == (8090, "/healthz")
    assert "app-host-health-gate.service" in tooling_units(behind)
    alone = _host_config(tmp_path)
    assert alone.health_gate_port == 0
    assert "app-host-health-gate.service" not in tooling_units(alone)


@pytest.mark.parametrize("port", [80, 443, 1024, 5432, 8000, 70000])
def test_a_gate_port_the_mission_keeps_for_others_is_refused(port: int) -> None:
    with pytest.raises(ValueError, match=rf"health_gate_port {port} must be an unprivileged port"):
        acme_spec(health_gate_port=port)


@pytest.mark.parametrize(
    ("status", "alive"),
    # The app's own answers count, a database-down 503 included; Nginx's "no answer from
    # the app" (502 refused or broken, 504 too slow) does not.
    [(200, True), (404, True), (500, True), (503, True), (502, False), (504, False)],
)
def test_liveness_counts_any_answer_from_the_app(status: int, alive: bool) -> None:
    assert answered_by_app(status) is alive


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except ConnectionRefusedError:
        return False


def test_the_port_opens_after_rise_and_closes_after_fall_probes() -> None:
    answers = iter([True, True, False, False, True, False, False, False, True])
    port = free_port()
    gate = Gate(port, GateSettings(fall=3, rise=2), lambda: next(answers))
    states = []
    for _ in range(9):
        gate.step()
        states.append(_accepts(port))
        gate.drain(0.05)  # the handshake is accepted and closed
    # Opens on the 2nd success; one success between failures resets the count, so it closes
    # on the 3rd failure in a row, and one success after is not enough to reopen.
    assert states == [False, True, True, True, True, True, True, False, False]
    assert gate.listener is None


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("tls")
    certificate, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-days", "1", "-subj", f"/CN={DOMAIN}", "-keyout", str(key), "-out", str(certificate),
        ],
        check=True, capture_output=True,
    )  # fmt: skip
    return certificate, key


class _Nginx(http.server.BaseHTTPRequestHandler):
    """Stands where Nginx does: answers the probe's path with the status under test."""

    status = 200
    delay = 0.0
    seen: ClassVar[list[tuple[str, str | None]]] = []

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("Host")))
        time.sleep(self.delay)
        self.send_response(self.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def https_server(tls_files: tuple[Path, Path]) -> Iterator[int]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls_files)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Nginx)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Nginx.status, _Nginx.delay, _Nginx.seen = 200, 0.0, []
    yield int(server.server_address[1])
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize(("status", "alive"), [(200, True), (503, True), (502, False)])
def test_the_probe_asks_the_site_by_name_and_judges_the_status(https_server: int, status: int, alive: bool) -> None:
    _Nginx.status = status
    assert probe_app(DOMAIN, "/readyz", 2, port=https_server) is alive
    assert _Nginx.seen == [("/readyz", DOMAIN)]


def test_a_probe_without_an_answer_in_time_fails(https_server: int) -> None:
    _Nginx.delay = 1.5
    started = time.monotonic()
    assert probe_app(DOMAIN, "/readyz", 0.5, port=https_server) is False
    assert time.monotonic() - started < 1.4


def test_a_probe_with_nothing_listening_fails() -> None:
    assert probe_app(DOMAIN, "/readyz", 1, port=free_port()) is False
