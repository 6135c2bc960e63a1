"""Boot one app host from the rendered user data and probe it from outside like a client.

One guest is booted for the module (it takes about a minute) and the tests run against it in
file order: the disruptive ones (reload, renewal, crash, reboot) come last.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

import pytest
from cryptography.x509.oid import NameOID

from fastapi_deploy.cloud_init import render_user_data
from fastapi_deploy.cloud_init.collector import REMOTE_JOURNALS, render_collector_user_data
from fastapi_deploy.cloud_init.render import JOURNAL_REMOTE_PORT
from fastapi_deploy.stack_model import AcmeCertificates, AppHostSpec, Capacity, ObjectStorageSpec
from fastapi_deploy.stack_model.host_spec import JournalUploadSpec, LogCollectorSpec, MetricsShippingSpec
from tests.boot.harness import (
    Guest,
    GuestFactory,
    HostNetwork,
    PackageIndex,
    PebbleAcme,
    PostgresServer,
    S3Server,
    free_port,
    hosts_entry,
    wait_for,
)
from tests.boot.host_parts import (
    APP_PROJECT,
    publish_for_hosts,
    publish_release,
    sample_app_spec,
    serving_slot,
)
from tests.boot.probes import (
    PinnedHttps,
    bounded_load,
    http_get,
    prometheus_series,
    served_certificate,
    wrk,
    wrk_failures,
)
from tests.host_specs import ADMIN_KEY
from tests.journal_pki import JournalPki, journal_pki
from tests.prometheus_receiver import PrometheusReceiver

pytestmark = pytest.mark.boot

DOMAIN = "api.example.test"
ADDRESS = "127.0.0.1"  # the guest shares the outer network namespace
# 2 vCPUs would give 5 workers; 1280 MiB leaves room for (1280 - 512) // 256 = 3.
CAPACITY = Capacity(vcpus=2, memory_mib=1280, worker_memory_mib=256)
TIMINGS: dict[str, float] = {}


@dataclass
class BootedHost:
    guest: Guest
    spec: AppHostSpec
    https: PinnedHttps
    postgres: PostgresServer
    database: str
    started_at: float
    orders_at_start: int = 0  # pebble's order count once the host served HTTPS
    orders_before: int = 0


def _https_ok(client: PinnedHttps, path: str = "/healthz") -> bool:
    try:
        return client.get(path)[0] == 200
    except OSError:
        return False


BUCKET = "notes-boot"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusReceiver]:
    """The managed Prometheus's stand-in, which the host's agent remote-writes to."""
    receiver = PrometheusReceiver(
        tmp_path_factory.mktemp("workspace"), ADDRESS, free_port(ADDRESS), "app_metrics_hosts", "W0rk!" + secrets.token_hex(12)
    )
    yield receiver
    receiver.stop()


@dataclass
class BootedCollector:
    guest: Guest
    address: str
    pki: JournalPki

    def messages(self) -> list[str]:
        return self.guest.exec(["journalctl", "-D", REMOTE_JOURNALS, "--no-pager", "-o", "cat"], check=False).stdout.splitlines()


@pytest.fixture(scope="module")
def collector(guest_factory_module: GuestFactory) -> Iterator[BootedCollector]:
    """The log collector, booted from its own rendered user data in a network of its own; the
    app host (on the outer machine's network) reaches it at its address."""
    network = HostNetwork().open()
    guest: Guest | None = None
    try:
        pki = journal_pki(network.guest_address)
        spec = LogCollectorSpec(server_cert_pem=pki.server_cert_pem, server_key_pem=pki.server_key_pem)
        guest = guest_factory_module("collector", render_collector_user_data(spec, refresh_package_index=False), network=network)
        assert guest.wait_for_cloud_init(300)["v1"]["errors"] == []
        yield BootedCollector(guest, network.guest_address, pki)
    finally:
        if guest is not None:
            guest.stop()
        network.close()


@pytest.fixture(scope="module")
def host(
    workspace: PrometheusReceiver,
    collector: BootedCollector,
    s3: S3Server,
    guest_factory_module: GuestFactory,
    app_index: PackageIndex,
    pebble: PebbleAcme,
    postgres: PostgresServer,
) -> Iterator[BootedHost]:
    database = "notes_single"
    password = secrets.token_urlsafe(16)
    url = postgres.create_database(database, owner=database, password=password)
    spec = AppHostSpec(
        domains=(DOMAIN,),
        # A single host is a fleet of one: its certificate is ordered under the lock and kept
        # in the store. The private CA's bundle: pebble's API and the roots it issues from.
        certificates=AcmeCertificates(
            contact_email="ops@example.test",
            directory_url=pebble.directory_url,
            ca_bundle_pem=pebble.listener_ca_pem + pebble.issuing_roots_pem(),
        ),
        app=sample_app_spec(app_index.url_for(ADDRESS)),
        # The tooling and the sample app come from the bucket, as the stack uploads them.
        store=publish_for_hosts(s3, BUCKET, ADDRESS, app_project=APP_PROJECT),
        capacity=CAPACITY,
        database_url=url,
        # The app's own keys to the same bucket (the moto server does not enforce policies).
        object_storage=ObjectStorageSpec(
            endpoint_url=s3.endpoint_for(ADDRESS), bucket=BUCKET, region=s3.region,
            access_key_id=s3.access_key_id, secret_access_key=s3.secret_access_key,
            addressing_style="path",
        ),
        admin_ssh_keys=(ADMIN_KEY,),
        refresh_package_index=False,
        metrics=MetricsShippingSpec(
            write_url=workspace.write_url, username=workspace.username, password=workspace.password
        ),
        journal_upload=JournalUploadSpec(
            url=f"https://{collector.address}:{JOURNAL_REMOTE_PORT}",
            ca_pem=collector.pki.ca_pem,
            client_cert_pem=collector.pki.client_cert_pem,
            client_key_pem=collector.pki.client_key_pem,
        ),
    )
    started = time.monotonic()
    orders_before = pebble.orders()
    publish_release(s3, spec)
    guest = guest_factory_module("single", render_user_data(spec).cloud_config)
    https = PinnedHttps(DOMAIN, ADDRESS, pebble.issuing_roots_pem() + pebble.issuing_intermediates_pem())
    booted = BootedHost(guest, spec, https, postgres, database, started, orders_before=orders_before)
    # Measured, not asserted: reported in the README and the closing note.
    wait_for(lambda: _https_ok(https), timeout=420, interval=0.5, what="first HTTPS 200 from /healthz")
    TIMINGS["guest start to first HTTPS 200 (s)"] = time.monotonic() - started
    booted.orders_at_start = pebble.orders()
    yield booted
    print("\nboot timings:", json.dumps({k: round(v, 1) for k, v in TIMINGS.items()}))


def test_cloud_init_finished_without_errors(host: BootedHost) -> None:
    result = host.guest.wait_for_cloud_init(timeout_seconds=300)
    assert result["v1"]["errors"] == []
    assert host.guest.failed_units() == []


def test_a_single_host_start_makes_one_acme_order(host: BootedHost) -> None:
    # Counted by pebble, the CA; a fleet of one takes the fleet's path (lock, store).
    assert host.orders_at_start - host.orders_before == 1


def test_https_serves_healthz_with_a_certificate_from_the_acme_ca(
    host: BootedHost, pebble: PebbleAcme
) -> None:
    status, headers, body = host.https.get("/healthz")  # verified against pebble's roots
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert headers["strict-transport-security"] == "max-age=63072000"
    certificate = served_certificate(DOMAIN, ADDRESS)
    issuer = certificate.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    assert "Pebble" in str(issuer)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DOMAIN


def test_readiness_sees_the_database_at_head_and_the_bucket(host: BootedHost) -> None:
    status, _, body = host.https.get("/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"]["object_storage"] == "ok", body
    revision = host.postgres.query(host.database, "SELECT version_num FROM alembic_version")
    assert len(revision) == 1


def test_notes_round_trip_through_the_proxy(host: BootedHost) -> None:
    status, _, body = host.https.request(
        "POST", "/notes", body=b'{"text": "from the boot test"}', headers={"Content-Type": "application/json"}
    )
    assert status == 201, body
    status, _, body = host.https.get("/notes")
    assert status == 200 and json.loads(body)[0]["text"] == "from the boot test"


def test_request_bodies_over_the_limit_are_refused_by_nginx(host: BootedHost) -> None:
    limit = host.spec.max_body_size_mib * 1024 * 1024
    status, _, _ = host.https.request("POST", "/notes", body=b"x" * (limit + 1), headers={"Content-Type": "application/json"})
    assert status == 413
    # Just under the limit reaches the app, which judges the content itself.
    status, _, _ = host.https.request("POST", "/notes", body=b"x" * (limit - 1024), headers={"Content-Type": "application/json"})
    assert status == 422


def test_forwarded_headers_are_set_by_nginx_and_not_by_the_client(host: BootedHost) -> None:
    status, _, body = host.https.get(
        "/client", headers={"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "http"}
    )
    assert status == 200
    assert json.loads(body) == {"client_host": "127.0.0.1", "scheme": "https"}


def test_http_redirects_to_https_except_the_acme_path(host: BootedHost) -> None:
    status, headers, _ = http_get(ADDRESS, DOMAIN, "/notes?limit=1")
    assert status == 301 and headers["location"] == f"https://{DOMAIN}/notes?limit=1"
    token = secrets.token_hex(8)
    host.guest.exec(
        [
            "sh",
            "-c",
            f"mkdir -p /var/www/acme/.well-known/acme-challenge && echo {token} > /var/www/acme/.well-known/acme-challenge/{token}",
        ]
    )
    status, _, body = http_get(ADDRESS, DOMAIN, f"/.well-known/acme-challenge/{token}")
    assert (status, body.decode().strip()) == (200, token)


def test_unknown_host_names_are_refused(host: BootedHost) -> None:
    import http.client
    import ssl

    with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
        http_get(ADDRESS, "evil.example.test", "/healthz")
    with pytest.raises(ssl.SSLError):
        PinnedHttps("evil.example.test", ADDRESS, None).get("/healthz")


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_old_tls_versions_are_refused(host: BootedHost) -> None:
    import socket
    import ssl

    outcomes = {}
    for version in (ssl.TLSVersion.TLSv1_1, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        context.minimum_version = context.maximum_version = version
        # Let this client offer TLS 1.1, so a refusal can only come from the server.
        context.set_ciphers("ALL:@SECLEVEL=0")
        try:
            with socket.create_connection((ADDRESS, 443), 5) as raw, context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
                outcomes[version.name] = tls.version()
        except ssl.SSLError as error:
            outcomes[version.name] = error.reason
    assert outcomes == {"TLSv1_1": "TLSV1_ALERT_PROTOCOL_VERSION", "TLSv1_2": "TLSv1.2", "TLSv1_3": "TLSv1.3"}


def _gunicorn_processes(guest: Guest) -> list[tuple[str, int, int]]:
    out = guest.exec(["ps", "-C", "gunicorn", "-o", "user=,pid=,ppid="]).stdout
    return [
        (user, int(pid), int(ppid))
        for user, pid, ppid in (line.split() for line in out.splitlines() if line.strip())
    ]


def _master_pid(guest: Guest) -> int:
    unit = f"api@{serving_slot(guest)}.service"
    return int(guest.exec(["systemctl", "show", "-p", "MainPID", "--value", unit]).stdout.strip())


def test_gunicorn_runs_as_the_service_user_with_the_computed_workers(host: BootedHost) -> None:
    master = _master_pid(host.guest)
    processes = _gunicorn_processes(host.guest)
    assert {user for user, _, _ in processes} == {"api"}
    workers = [pid for _, pid, ppid in processes if ppid == master]
    assert len(workers) == CAPACITY.worker_count == 3
    shell = host.guest.exec(["getent", "passwd", "api"]).stdout.strip().split(":")[-1]
    assert shell == "/usr/sbin/nologin"
    assert host.guest.exec(["sudo", "-l", "-U", "api"], check=False).stdout.count("may run") == 0


def test_nothing_but_nginx_and_ssh_listens_on_tcp(host: BootedHost) -> None:
    # The guest shares the outer network namespace here, so ss also lists the test's own
    # servers; only sockets of guest processes carry a users:(...) owner seen from inside.
    listeners = host.guest.exec(["ss", "-Hltnp"]).stdout.splitlines()
    owners = {name for line in listeners for name in re.findall(r'users:\(\("([^"]+)"', line)}
    assert owners == {"nginx", "sshd", "mtail", "prometheus", "prometheus-node"}, listeners
    ports = {int(port) for line in listeners if "nginx" in line for port in re.findall(r":(\d+)\s", line)}
    assert ports == {80, 443}
    # The metrics endpoints and the agent's own on loopback only.
    on_loopback = {"mtail": ["127.0.0.1:3903"], "prometheus": ["127.0.0.1:9090"], "prometheus-node": ["127.0.0.1:9100"]}
    for owner, addresses in on_loopback.items():
        assert [line.split()[3] for line in listeners if f'"{owner}"' in line] == addresses, listeners
    # The app socket belongs to Nginx's user only.
    mode = host.guest.exec(["stat", "-L", "-c", "%A %U", "/var/lib/app-host/active/api.sock"]).stdout.split()
    assert mode == ["srw-------", "www-data"]


def test_app_port_is_closed_from_outside(host: BootedHost) -> None:
    import socket

    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((ADDRESS, 8000), 3).close()


def test_units_pass_systemd_verify_on_the_host(host: BootedHost) -> None:
    slot = serving_slot(host.guest)
    units = [f"api@{slot}.service", f"api@{slot}.socket", f"api-migrate@{slot}.service"]
    result = host.guest.exec(["systemd-analyze", "verify", *units], check=False)
    assert result.returncode == 0 and result.stderr.strip() == "", result.stderr
    exposure = host.guest.exec(["systemd-analyze", "security", units[0]], check=False).stdout
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", exposure)
    assert score is not None
    TIMINGS["api.service exposure (online, in guest)"] = float(score.group(1))


def test_logs_go_to_the_journal(host: BootedHost) -> None:
    marker = f"/healthz?journal={secrets.token_hex(4)}"
    host.https.get(marker)
    # One access log: Nginx's, in the journal with the upstream time; gunicorn writes none.
    def logged() -> str:
        return host.guest.exec(["journalctl", "-t", "nginx", "--no-pager", "-o", "cat"]).stdout

    wait_for(lambda: marker in logged(), timeout=10, interval=0.2, what="the request in Nginx's journal")
    line = next(line for line in logged().splitlines() if marker in line)
    assert f'"GET {marker} HTTP/2.0" 200' in line or f'"GET {marker} HTTP/1.1" 200' in line, line
    assert re.search(r"upstream_time=\d+\.\d{3}", line), line
    app_journal = host.guest.exec(["journalctl", "-u", "api@*.service", "--no-pager", "-o", "cat"]).stdout
    assert marker not in app_journal
    migrate = host.guest.exec(["journalctl", "-u", "api-migrate@*.service", "--no-pager", "-o", "cat"]).stdout
    assert "lock taken, running migrations" in migrate
    limits = host.guest.exec(["systemd-analyze", "cat-config", "systemd/journald.conf"]).stdout
    assert "SystemMaxUse=1024M" in limits
    assert host.guest.exec(["logrotate", "--debug", "/etc/logrotate.d/nginx"], check=False).returncode == 0


def _nginx_metrics(host: BootedHost) -> dict[str, float]:
    """mtail's Prometheus page, read on the host: series name with labels (prog dropped) -> value."""
    return prometheus_series(host.guest.exec(["curl", "-sf", "http://127.0.0.1:3903/metrics"]).stdout)


def _grew(host: BootedHost, before: dict[str, float], series: str, by: float) -> bool:
    return _nginx_metrics(host).get(series, 0.0) - before.get(series, 0.0) >= by


def test_request_rate_errors_and_latency_reach_mtail_and_move(host: BootedHost) -> None:
    """What users feel, as numbers: requests by status class and a latency histogram from a
    stream Nginx writes and mtail tails. Errors and delays are caused for real: the app away (Nginx 502),
    then the app's service stopped with its socket kept (the next request waits for it)."""
    ok, errors = 'nginx_requests_total{status_class="2xx"}', 'nginx_requests_total{status_class="5xx"}'
    slow, total = 'nginx_request_seconds_bucket{le="0.5"}', 'nginx_request_seconds_count'
    before = _nginx_metrics(host)
    for _ in range(20):
        assert host.https.get("/healthz")[0] == 200
    wait_for(lambda: _grew(host, before, ok, 20), timeout=10, interval=0.2, what="20 answers counted")
    assert _nginx_metrics(host).get(errors, 0.0) == before.get(errors, 0.0)

    slot = serving_slot(host.guest)
    host.guest.exec(["systemctl", "stop", f"api@{slot}.socket", f"api@{slot}.service"])
    try:
        assert [host.https.get("/healthz")[0] for _ in range(5)] == [502] * 5
    finally:
        host.guest.exec(["systemctl", "start", f"api@{slot}.socket"])
    wait_for(lambda: _grew(host, before, errors, 5), timeout=10, interval=0.2, what="the 502s counted")

    before = _nginx_metrics(host)
    host.guest.exec(["systemctl", "stop", f"api@{slot}.service"])
    started = time.monotonic()
    assert host.https.get("/healthz")[0] == 200
    waited = time.monotonic() - started
    TIMINGS["first request to a stopped app (socket kept) (s)"] = waited
    wait_for(lambda: _grew(host, before, total, 1), timeout=10, interval=0.2, what="the slow request counted")
    after = _nginx_metrics(host)
    # Counted, and above half a second: outside the 0.5 s bucket.
    assert after[total] - before[total] >= 1 and after[slow] - before.get(slow, 0.0) < after[total] - before[total], (
        waited,
        after,
    )

    # mtail restarted: counting starts again from the stream's end.
    host.guest.exec(["systemctl", "restart", "mtail"])
    wait_for(lambda: host.guest.exec(["curl", "-sf", "http://127.0.0.1:3903/metrics"], check=False).returncode == 0, timeout=10, interval=0.2, what="mtail back")
    for _ in range(5):
        host.https.get("/healthz")
    wait_for(lambda: _nginx_metrics(host).get(ok, 0.0) >= 5, timeout=10, interval=0.2, what="answers counted after mtail's restart")

    # The stream rotated by size: Nginx reopens it (USR1) and mtail follows the new file.
    host.guest.exec(["logrotate", "--force", "/etc/logrotate.d/app-host-metrics"])
    before = _nginx_metrics(host)
    for _ in range(5):
        host.https.get("/healthz")
    wait_for(lambda: _grew(host, before, ok, 5), timeout=10, interval=0.2, what="answers counted after a rotation")
    size = host.guest.exec(["stat", "-c", "%s", "/var/log/nginx/metrics.stream"]).stdout.strip()
    assert int(size) > 0, "Nginx still writes the rotated file"
    timer = host.guest.exec(["systemctl", "show", "logrotate.timer", "-p", "TimersCalendar"]).stdout
    assert "*:0/10" in timer or "*-*-* *:00/10:00" in timer, timer


def test_the_hosts_numbers_reach_the_workspace_under_its_instance_id(
    host: BootedHost, workspace: PrometheusReceiver
) -> None:
    """The agent (Debian's Prometheus, agent mode, the packages' own units) remote-writes what
    mtail and the node exporter serve, with the password from a file only its group reads."""
    ok = 'nginx_requests_total{status_class="2xx"}'
    labels = f'host="{host.guest.instance_id}",app="api"'
    assert host.guest.exec(["systemctl", "is-active", "prometheus", "prometheus-node-exporter"]).stdout.split() == ["active"] * 2
    restarts = host.guest.exec(["systemctl", "show", "-p", "Restart", "prometheus", "prometheus-node-exporter"]).stdout.split()
    assert restarts == ["Restart=always"] * 2
    password = host.guest.exec(["stat", "-c", "%a %U %G", "/etc/prometheus/remote-write.password"]).stdout.strip()
    assert password == "440 root prometheus"
    assert host.guest.exec(["stat", "-c", "%a %U", "/etc/app-host/metrics.conf"]).stdout.strip() == "600 root"
    before = _nginx_metrics(host)
    for _ in range(7):
        assert host.https.get("/healthz")[0] == 200
    wait_for(lambda: _grew(host, before, ok, 7), timeout=10, interval=0.2, what="7 answers counted")
    counted = _nginx_metrics(host)[ok]
    started = time.monotonic()
    # What the host counts is what arrives (scraped every 15 s, sent within seconds).
    wait_for(
        lambda: workspace.value(f'nginx_requests_total{{{labels},status_class="2xx"}}') == counted,
        timeout=90, interval=1, what=f"{counted:g} answers in the workspace",
    )  # fmt: skip
    TIMINGS["counted on the host to seen in the workspace (s)"] = time.monotonic() - started
    # The node exporter's numbers too. Not the root disk here: a guest's / is an overlay, which
    # the exporter leaves out by default (a cloud host's is ext4; the disk rule is promtool's).
    memory = workspace.value(f"node_memory_MemAvailable_bytes{{{labels}}}")
    assert memory is not None and memory > 0
    assert {series["metric"]["job"] for series in workspace.query(f"up{{{labels}}} == 1")} == {"nginx", "node"}


def test_the_journal_reaches_the_collector_from_the_first_boot_on(host: BootedHost, collector: BootedCollector) -> None:
    """Debian's systemd-journal-upload (the package's unit, the key handed over by systemd)
    sends the whole journal, the boot's own lines included, then follows it, to Debian's
    systemd-journal-remote on the collector booted from its own user data."""
    assert host.guest.exec(["systemctl", "is-active", "systemd-journal-upload"]).stdout.strip() == "active"
    assert host.guest.exec(["stat", "-c", "%a %U", "/etc/app-host/journal/client.key"]).stdout.strip() == "600 root"
    marker = f"journal-marker-{secrets.token_hex(6)}"
    host.guest.exec(["logger", "-t", "boot-test", marker])
    started = time.monotonic()
    wait_for(lambda: marker in collector.messages(), timeout=60, interval=0.5, what="the marker at the collector")
    TIMINGS["logged on the host to read on the collector (s)"] = time.monotonic() - started
    lines = collector.messages()
    # From the start: cloud-init's and the bootstrap's own lines (a failed boot shows there).
    assert any("Cloud-init" in line for line in lines) and any(line.endswith("done") for line in lines), lines[-20:]
    # One journal per sender, named after its address (Debian 12: no client-certificate names).
    files = collector.guest.exec(["ls", REMOTE_JOURNALS]).stdout.split()
    assert files and all(name.startswith("remote-") for name in files), files
    # The collector listens on 19532 (and SSH); its own sending end is off.
    assert collector.guest.failed_units() == []
    assert collector.guest.exec(["systemctl", "is-enabled", "systemd-journal-upload"], check=False).stdout.strip() == "disabled"


def test_ssh_refuses_passwords_and_root(host: BootedHost) -> None:
    effective = host.guest.exec(["sshd", "-T"]).stdout.lower()
    assert "passwordauthentication no" in effective
    assert "permitrootlogin no" in effective
    keys = host.guest.exec(["cat", "/home/ops/.ssh/authorized_keys"]).stdout
    assert ADMIN_KEY in keys


def test_environment_file_is_readable_only_by_the_service_user(host: BootedHost) -> None:
    stat = host.guest.exec(["stat", "-c", "%a %U %G", "/etc/api/env"]).stdout.split()
    assert stat == ["400", "api", "api"]
    assert (
        host.guest.exec(["runuser", "-u", "nobody", "--", "cat", "/etc/api/env"], check=False).returncode != 0
    )


def test_worker_memory(host: BootedHost) -> None:
    master = _master_pid(host.guest)
    workers = [pid for _, pid, ppid in _gunicorn_processes(host.guest) if ppid == master]
    rss = [int(host.guest.exec(["ps", "-o", "rss=", "-p", str(pid)]).stdout) for pid in workers]
    TIMINGS["per-worker RSS (MiB, max)"] = max(rss) / 1024
    # The capacity model's default per-worker budget must cover the sample app.
    assert max(rss) / 1024 < CAPACITY.worker_memory_mib


def test_reload_under_load_loses_no_requests(host: BootedHost) -> None:
    before = {pid for _, pid, _ in _gunicorn_processes(host.guest)}
    result, stop, runner = bounded_load(host.https, "/healthz", clients=8, seconds=24, max_requests=200_000)
    time.sleep(3)
    at_first_reload = result.total
    for _ in range(3):
        host.guest.exec(["systemctl", "reload", f"api@{serving_slot(host.guest)}.service"])
        time.sleep(6)
    after_reloads = result.total - at_first_reload
    stop.set()
    runner.join(timeout=30)
    after = {pid for _, pid, _ in _gunicorn_processes(host.guest)}
    # The load spans the reloads: requests before the first and for seconds after each.
    assert at_first_reload > 100 and after_reloads > 300
    assert result.failures == 0, (result.statuses, result.errors[:5])
    assert before - after, "the reload replaced no worker"
    TIMINGS["requests during 3 HUP reloads"] = result.total
    TIMINGS["idle keep-alive resends during HUP reloads"] = result.stale_connection_retries


def test_forced_renewal_switches_certificates_without_dropping_requests(host: BootedHost) -> None:
    serial_before = served_certificate(DOMAIN, ADDRESS).serial_number
    result, stop, runner = bounded_load(host.https, "/healthz", clients=4, seconds=90, max_requests=500_000)
    renewal = host.guest.exec(["/usr/local/sbin/app-host", "tls", "renew", "--force"], check=False, timeout=180)
    stop.set()
    runner.join(timeout=30)
    certbot_log = host.guest.exec(["tail", "-n", "60", "/var/log/app-host-certbot/letsencrypt.log"], check=False).stdout
    assert renewal.returncode == 0, renewal.stdout + renewal.stderr + certbot_log
    assert served_certificate(DOMAIN, ADDRESS).serial_number != serial_before
    assert result.total > 50
    assert result.failures == 0, (result.statuses, result.errors[:5])
    TIMINGS["requests during renewal"] = result.total
    TIMINGS["idle keep-alive resends during renewal"] = result.stale_connection_retries
    # Nginx was not reloaded: it loads the pair per handshake.
    reloads = host.guest.exec(["journalctl", "-u", "nginx", "--no-pager", "-o", "cat"]).stdout.count("Reloading")
    assert reloads == 0


def test_app_comes_back_after_kill_9_of_the_master(host: BootedHost) -> None:
    master = _master_pid(host.guest)
    host.guest.exec(["kill", "-9", str(master)])
    killed = time.monotonic()
    wait_for(
        lambda: _master_pid(host.guest) not in (0, master) and _https_ok(host.https),
        timeout=15,
        interval=0.2,
        what="app back after kill -9",
    )
    TIMINGS["kill -9 to HTTPS 200 (s)"] = time.monotonic() - killed


def _lock_waiters(host: BootedHost) -> set[int]:
    """Backends of the app's database waiting for a lock. A backend whose client was killed
    keeps waiting (Postgres notices only when it next talks to the client)."""
    rows = host.postgres.query(
        "postgres",
        "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'",
        (host.database,),
    )
    return {int(pid) for pid, in rows}


def test_a_crash_mid_request_resends_reads_and_answers_writes_with_a_clean_502(host: BootedHost) -> None:
    """A GET and a POST are inside the app (both wait for a table lock the test holds) when
    the master is killed: the GET is sent again and answered by the restarted app; the POST
    is not resent (the app may have acted on it) and gets a 502 at once, never a hang."""
    text = f"crash-{secrets.token_hex(4)}"
    # New Nginx workers hold no kept-alive upstream connections, so both requests go out on
    # fresh ones. (A request that breaks on a kept-alive connection Nginx resends by itself,
    # taking it for one the app had closed as idle; a fresh one it does not.)
    host.guest.exec(["systemctl", "reload", "nginx"])
    patient = PinnedHttps(host.https.domain, host.https.address, host.https.ca_pem, timeout=90)
    with host.postgres.connect(host.database) as locker, ThreadPoolExecutor(2) as pool:
        with locker.transaction():
            locker.execute("LOCK TABLE notes IN ACCESS EXCLUSIVE MODE")
            read = pool.submit(patient.get, "/notes?limit=1")
            write = pool.submit(
                patient.request, "POST", "/notes", json.dumps({"text": text}).encode(),
                {"Content-Type": "application/json"},
            )
            wait_for(lambda: len(_lock_waiters(host)) == 2, timeout=20, interval=0.2, what="both requests inside the app")
            before_crash = _lock_waiters(host)
            host.guest.exec(["kill", "-9", str(_master_pid(host.guest))])
            killed = time.monotonic()
            status, _, body = write.result(timeout=20)
            TIMINGS["crash: POST answered after (s)"] = time.monotonic() - killed
            assert status == 502, body
            # The GET was sent again and waits for the lock in the restarted app.
            wait_for(
                lambda: len(_lock_waiters(host) - before_crash) == 1, timeout=30, interval=0.2,
                what="the GET resent to the restarted app",
            )
            assert not read.done()
        status, _, body = read.result(timeout=30)
    assert status == 200, body
    assert host.postgres.query(host.database, "SELECT count(*) FROM notes WHERE text = %s", (text,)) == [(0,)]


def _wrk_max_latency_seconds(output: str) -> float:
    value, unit = re.search(r"Latency\s+\S+\s+\S+\s+([\d.]+)(us|ms|s)", output).groups()  # type: ignore[union-attr]
    return float(value) / {"us": 1e6, "ms": 1e3, "s": 1.0}[unit]


def _replaced_and_serving(host: BootedHost, dead_master: int) -> bool:
    return _master_pid(host.guest) not in (0, dead_master) and _https_ok(host.https)


def test_two_crashes_under_load_fail_no_request(host: BootedHost) -> None:
    """Two kill -9 of the master under wrk's 32 keep-alive connections: the requests the
    dead workers held are sent again, so none fails. Every request in flight waits for the
    restart (about 2 s), longer than wrk's default timeout: slow, not failed, so wrk waits
    up to 10 s."""
    with hosts_entry(DOMAIN, ADDRESS):
        load = wrk(f"https://{DOMAIN}/healthz", 30, timeout_seconds=10)
        time.sleep(4)
        for _ in range(2):
            dead = _master_pid(host.guest)
            host.guest.exec(["kill", "-9", str(dead)])
            wait_for(partial(_replaced_and_serving, host, dead), timeout=30, interval=0.2, what="app back after kill -9")
            time.sleep(4)
        output = load.communicate(timeout=90)[0]
    requests, failed = wrk_failures(output)
    TIMINGS["wrk requests during 2 kill -9 of the master"] = requests
    TIMINGS["wrk slowest request during 2 kill -9 (s)"] = _wrk_max_latency_seconds(output)
    assert requests > 2000 and failed == 0, output


def test_https_serves_again_after_a_reboot(host: BootedHost) -> None:
    host.guest.reboot()
    rebooted = time.monotonic()
    wait_for(
        lambda: _https_ok(host.https, "/readyz"), timeout=180, interval=0.5, what="HTTPS /readyz after reboot"
    )
    TIMINGS["reboot to HTTPS 200 (s)"] = time.monotonic() - rebooted
    assert host.guest.failed_units() == []
    # The certificate obtained on first boot is kept; no new issuance on reboot.
    assert "Pebble" in str(served_certificate(DOMAIN, ADDRESS).issuer)
