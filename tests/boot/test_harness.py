"""Smoke tests of the boot harness itself: if these fail, no other boot test can be trusted."""

from __future__ import annotations

import http.server
import ssl
import subprocess
import textwrap
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from .harness import (
    GuestFactory,
    HostNetworkFactory,
    PackageIndexFactory,
    PebbleAcme,
    PostgresServer,
)

TRIVIAL_USER_DATA = textwrap.dedent(
    """\
    #cloud-config
    write_files:
      - path: /var/lib/harness/kept
        content: "written by cloud-init\\n"
    runcmd:
      - [touch, /run/harness-ok]
    """
)


def _exists(guest_exec_result: subprocess.CompletedProcess[str]) -> bool:
    return guest_exec_result.returncode == 0


def test_guest_boots_runs_cloud_init_and_survives_a_reboot(
    guest_factory: GuestFactory, tmp_path: Path
) -> None:
    guest = guest_factory("smoke", TRIVIAL_USER_DATA)

    result = guest.wait_for_cloud_init(timeout_seconds=180)
    assert result["v1"]["errors"] == []
    assert "NoCloud" in result["v1"]["datasource"]
    assert _exists(guest.exec(["test", "-e", "/run/harness-ok"], check=False))
    assert guest.read_file("/var/lib/harness/kept") == "written by cloud-init\n"
    assert guest.exec(["hostname"]).stdout.strip() == "smoke"
    assert guest.failed_units() == []
    # Commands run with a clean environment: the outer PIP_*/SSL_* settings stay outside.
    assert "PIP_" not in guest.exec(["env"]).stdout

    guest.reboot()
    result = guest.wait_for_cloud_init(timeout_seconds=180)
    assert result["v1"]["errors"] == []
    # /run is a fresh tmpfs and runcmd is per-instance: same instance-id, so not rerun.
    assert not _exists(guest.exec(["test", "-e", "/run/harness-ok"], check=False))
    assert guest.read_file("/var/lib/harness/kept") == "written by cloud-init\n"
    instances = guest.exec(["ls", "/var/lib/cloud/instances"]).stdout.split()
    assert instances == [guest.instance_id]
    boots = guest.exec(["journalctl", "--list-boots", "--no-pager", "-q"]).stdout
    assert len(boots.strip().splitlines()) == 2, boots

    live_logs = guest.collect_logs(tmp_path / "live")
    guest.stop()
    dead_logs = guest.collect_logs(tmp_path / "dead")
    for logs in (live_logs, dead_logs):
        assert "Cloud-init" in (logs / "var_log_cloud-init.log").read_text()
        assert "harness: boot 2 of smoke" in (logs / "console.log").read_text()
        assert "Reached target" in (logs / "journal.txt").read_text()
    assert (live_logs / "result.json").is_file()


def test_cloud_init_errors_are_reported(guest_factory: GuestFactory) -> None:
    guest = guest_factory("broken", "#cloud-config\nruncmd:\n  - [false]\n")
    errors = guest.wait_for_cloud_init(timeout_seconds=180)["v1"]["errors"]
    assert any("scripts_user" in error or "scripts-user" in error for error in errors), errors


class _OuterHandler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        local_address = self.connection.getsockname()[0]
        body = f"outer {local_address} sees {self.client_address[0]}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def _outer_http_server(address: str) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer((address, 0), _OuterHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_two_guests_in_their_own_network_namespaces(
    guest_factory: GuestFactory, host_network_factory: HostNetworkFactory
) -> None:
    networks = [host_network_factory(), host_network_factory()]
    assert networks[0].outer_address != networks[1].outer_address
    guests = [
        guest_factory(f"net{number}", TRIVIAL_USER_DATA, network=network)
        for number, network in enumerate(networks)
    ]
    for guest in guests:
        assert guest.wait_for_cloud_init(timeout_seconds=180)["v1"]["errors"] == []

    for guest, network in zip(guests, networks, strict=True):
        addresses = guest.exec(["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).stdout
        assert f" {network.guest_address}/30 " in addresses
        with _outer_http_server(network.outer_address) as port:
            answer = guest.exec(["curl", "-sS", "-m", "5", f"http://{network.outer_address}:{port}/"]).stdout
        assert answer == f"outer {network.outer_address} sees {network.guest_address}"
        # Both guests run nginx on port 80, each in its own namespace.
        with urllib.request.urlopen(f"http://{network.guest_address}/", timeout=5) as page:
            assert page.status == 200
    # No route between the namespaces, and none to the outer machine's other networks.
    across = guests[0].exec(["curl", "-sS", "-m", "3", f"http://{networks[1].guest_address}/"], check=False)
    assert across.returncode != 0

    for guest in guests:
        guest.stop()
    for network in networks:
        network.close()
    namespaces = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    for network in networks:
        assert network.namespace not in namespaces.split()
        assert not Path(f"/sys/class/net/{network.outer_interface}").exists()


def test_package_index_serves_wheels_to_a_namespaced_guest(
    guest_factory: GuestFactory,
    host_network_factory: HostNetworkFactory,
    package_index_factory: PackageIndexFactory,
    tmp_path: Path,
) -> None:
    project = tmp_path / "harness-probe"
    (project / "harness_probe").mkdir(parents=True)
    (project / "harness_probe" / "__init__.py").write_text("GREETING = 'hello from a wheel'\n")
    (project / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [build-system]
            requires = ["setuptools>=69"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "harness-probe"
            version = "0.1.0"
            requires-python = ">=3.11"
            # A compiled dependency: proves manylinux wheels for the guest's Python.
            dependencies = ["markupsafe"]
            """
        )
    )
    network = host_network_factory()
    index = package_index_factory(["six"], [project], bind_addresses=["127.0.0.1", network.outer_address])
    with urllib.request.urlopen(index.url + "markupsafe/", timeout=5) as page:
        listing = page.read().decode()
    assert "cp311-manylinux" in listing and "#sha256=" in listing

    guest = guest_factory("pip", "#cloud-config\n", network=network)
    assert guest.wait_for_cloud_init(timeout_seconds=180)["v1"]["errors"] == []
    guest.exec(["python3", "-m", "venv", "/opt/probe"])
    guest.exec(
        [
            "/opt/probe/bin/pip",
            "install",
            "--no-cache-dir",
            *index.pip_options_for(network.outer_address),
            "harness-probe",
            "six",
        ],
        timeout=300,
    )
    imported = guest.exec(
        [
            "/opt/probe/bin/python",
            "-c",
            "import harness_probe, markupsafe, six; print(harness_probe.GREETING)",
        ]
    )
    assert imported.stdout.strip() == "hello from a wheel"


def test_postgres_and_pebble_answer(postgres: PostgresServer, pebble: PebbleAcme) -> None:
    url = postgres.create_database("harness_smoke", "harness_smoke", "smoke-password")
    with psycopg.connect(url) as connection:
        row = connection.execute("SELECT current_user, current_database()").fetchone()
    assert row == ("harness_smoke", "harness_smoke")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(url.replace("smoke-password", "wrong-password")).close()
    assert postgres.query("harness_smoke", "SELECT 1 + 1") == [(2,)]

    context = ssl.create_default_context(cadata=pebble.listener_ca_pem)
    with urllib.request.urlopen(pebble.directory_url, context=context, timeout=5) as response:
        directory = response.read().decode()
    assert '"newOrder"' in directory
    # The listener is not trusted by the default bundle: certbot must be given the CA.
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(pebble.directory_url, timeout=5)
    assert pebble.issuing_roots_pem().startswith("-----BEGIN CERTIFICATE-----")
    assert pebble.issuing_intermediates_pem().startswith("-----BEGIN CERTIFICATE-----")
