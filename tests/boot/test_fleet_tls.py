"""Fleet TLS: three hosts behind a load balancer get one trusted certificate, ordered once.

The test bed: three Debian guests, each in its own network namespace, booting the same user
data; HAProxy passing TCP 80/443 round-robin at one address (the CLB's stand-in); pebble as
the ACME CA, its DNS resolving the domain to the balancer, so each validation request lands
on whichever host the balancer picks; moto as the bucket; a real Postgres for the lock. All
in this machine: the guests reach the services at one shared address.

Tests run in file order: the fleet starts, a fourth host joins, the certificate is renewed
under load, the issuer is killed mid-order, the store goes away, bad certificates are planted.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import secrets
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from fastapi_deploy.cloud_init import render_user_data
from fastapi_deploy.stack_model import AcmeCertificates, AppHostSpec, Capacity
from fastapi_deploy.stack_model.host_spec import HEALTH_GATE_PORT
from tests.boot.harness import (
    BALANCER_ADDRESS,
    SERVICES_ADDRESS,
    Guest,
    GuestFactory,
    HostNetwork,
    PackageIndex,
    PebbleAcme,
    PostgresServer,
    S3Server,
    SharedAddresses,
    TcpBalancer,
    hosts_entry,
    iptables_rule,
    wait_for,
)
from tests.boot.host_parts import (
    APP_PROJECT,
    publish_for_hosts,
    publish_release,
    sample_app_spec,
    serving_slot,
)
from tests.boot.probes import PinnedHttps, bounded_load, served_certificate, wrk, wrk_failures

pytestmark = pytest.mark.boot

DOMAIN = "api.fleet.test"
BUCKET = "fleet-tls"
PREFIX = "tls/api"
SYNC_SECONDS = 10
FIGURES: dict[str, float] = {}


@dataclass
class Fleet:
    spec: AppHostSpec
    user_data: str
    pebble: PebbleAcme
    s3: S3Server
    balancer: TcpBalancer
    roots: str
    hosts: list[tuple[Guest, HostNetwork]] = field(default_factory=list)

    def https(self, address: str) -> PinnedHttps:
        return PinnedHttps(DOMAIN, address, self.roots)

    def serial(self, address: str) -> int:
        return served_certificate(DOMAIN, address).serial_number

    def serials(self) -> list[int]:
        return [self.serial(network.guest_address) for _, network in self.hosts]


def _trusted_https(fleet: Fleet, address: str) -> bool:
    try:
        return fleet.https(address).get("/healthz")[0] == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def fleet_pebble(tmp_path_factory: pytest.TempPathFactory, shared_addresses: SharedAddresses) -> Iterator[PebbleAcme]:
    """A CA of its own for the fleet: on the shared address, its DNS pointing every name at
    the balancer, so the validation requests go through it."""
    with PebbleAcme(
        tmp_path_factory.mktemp("fleet-pebble"),
        default_ipv4=BALANCER_ADDRESS,
        listen_host="0.0.0.0",
        acme_port=14100,
        management_port=15100,
        dns_port=8153,
        challtestsrv_management_port=8155,
        extra_listener_names=(SERVICES_ADDRESS,),
    ) as acme:
        yield acme


def with_public_dns(cloud_config: str) -> str:
    """The test bed's public DNS for the hosts themselves: the domain names the balancer, so
    the tooling's self-check takes the path the CA takes. (The CA gets the same answer from
    pebble's DNS.)"""
    document = yaml.safe_load(cloud_config)
    entry = f"{BALANCER_ADDRESS} {DOMAIN}"
    document.setdefault("bootcmd", []).append(["sh", "-c", f"grep -qx '{entry}' /etc/hosts || echo '{entry}' >> /etc/hosts"])
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False)


@pytest.fixture(scope="module")
def fleet(
    guest_factory_module: GuestFactory,
    tmp_path_factory: pytest.TempPathFactory,
    shared_addresses: SharedAddresses,
    fleet_pebble: PebbleAcme,
    s3: S3Server,
    postgres: PostgresServer,
    app_index: PackageIndex,
) -> Iterator[Fleet]:
    roots = fleet_pebble.issuing_roots_pem()
    spec = AppHostSpec(
        domains=(DOMAIN,),
        certificates=AcmeCertificates(
            contact_email="ops@fleet.test",
            directory_url=fleet_pebble.directory_url_for(SERVICES_ADDRESS),
            ca_bundle_pem=fleet_pebble.listener_ca_pem + roots,
            sync_interval_seconds=SYNC_SECONDS,
        ),
        app=sample_app_spec(app_index.url_for(SERVICES_ADDRESS)),
        store=publish_for_hosts(s3, BUCKET, SERVICES_ADDRESS, app_project=APP_PROJECT),
        capacity=Capacity(vcpus=1, memory_mib=1024),
        database_url=postgres.create_database("fleet_tls", "fleet_tls", secrets.token_urlsafe(12), host=SERVICES_ADDRESS),
        refresh_package_index=False,
        health_gate_port=HEALTH_GATE_PORT,
        # The timer's own time is random within the day: the test starts the dumps itself.
        backup_schedule="daily",
    )
    publish_release(s3, spec)
    user_data = with_public_dns(render_user_data(spec).cloud_config)
    balancer = TcpBalancer(tmp_path_factory.mktemp("balancer"))
    built = Fleet(spec, user_data, fleet_pebble, s3, balancer, roots)
    networks = [HostNetwork().open() for _ in range(3)]
    try:
        balancer.set_backends([network.guest_address for network in networks])
        started = time.monotonic()
        for number, network in enumerate(networks, start=1):
            # The same user data for every host, as a scaling group boots it.
            guest = guest_factory_module(f"tls{number}", user_data, network=network)
            built.hosts.append((guest, network))
        wait_for(
            lambda: all(_trusted_https(built, network.guest_address) for network in networks),
            timeout=600,
            interval=1,
            what="every host serving a certificate from the CA",
        )
        FIGURES["fleet start to every host serving the trusted certificate (s)"] = time.monotonic() - started
        yield built
    finally:
        balancer.stop()
        for guest, _ in built.hosts:
            guest.stop()
        for network in {id(item): item for item in [*networks, *(net for _, net in built.hosts)]}.values():
            network.close()
        print("\nfleet TLS figures:", json.dumps({key: round(value, 1) for key, value in FIGURES.items()}))


def test_one_order_for_the_whole_fleet(fleet: Fleet) -> None:
    for guest, _ in fleet.hosts:
        assert guest.wait_for_cloud_init(300)["v1"]["errors"] == []
        assert guest.failed_units() == []
    assert fleet.pebble.orders() == 1
    serials = fleet.serials()
    assert len(set(serials)) == 1, serials
    # Through the balancer: several connections, whichever host each lands on.
    assert {fleet.serial(BALANCER_ADDRESS) for _ in range(6)} == {serials[0]}
    status, _, _ = fleet.https(BALANCER_ADDRESS).get("/healthz")  # verified against the CA's root
    assert status == 200
    # The key rests in the store encrypted, and on the hosts readable by root and Nginx only.
    head = fleet.s3.client().head_object(Bucket=BUCKET, Key=f"{PREFIX}/certificates/{format(serials[0], 'x')}/privkey.pem")
    assert head["ServerSideEncryption"] == "AES256"
    guest = fleet.hosts[0][0]
    mode = guest.exec(["stat", "-L", "-c", "%a %U %G", "/etc/ssl/api/current/privkey.pem"]).stdout.split()
    assert mode == ["640", "root", "www-data"]
    # No key material in the journal: neither a PEM key header nor the key's own body.
    key_pem = guest.exec(["cat", "/etc/ssl/api/current/privkey.pem"]).stdout
    key_body = "".join(line for line in key_pem.splitlines() if not line.startswith("-----"))
    journal = guest.exec(["journalctl", "--no-pager", "-o", "cat"]).stdout
    assert "PRIVATE KEY-----" not in journal
    assert key_body[:40] and key_body[:40] not in journal


def test_any_host_answers_a_challenge_from_the_store(fleet: Fleet) -> None:
    import http.client

    token, validation = secrets.token_urlsafe(24), secrets.token_urlsafe(40)
    fleet.s3.put(BUCKET, f"{PREFIX}/challenges/{token}", validation.encode())
    for _, network in fleet.hosts:
        connection = http.client.HTTPConnection(network.guest_address, 80, timeout=10)
        connection.request("GET", f"/.well-known/acme-challenge/{token}", headers={"Host": DOMAIN})
        response = connection.getresponse()
        assert (response.status, response.read().decode()) == (200, validation)
        connection.request("GET", f"/.well-known/acme-challenge/{secrets.token_urlsafe(24)}", headers={"Host": DOMAIN})
        unknown = connection.getresponse()
        unknown.read()
        assert unknown.status == 404
        connection.close()


def test_a_host_that_joins_later_serves_the_certificate_without_a_new_order(
    fleet: Fleet, guest_factory_module: GuestFactory
) -> None:
    orders = fleet.pebble.orders()
    serial = fleet.serials()[0]
    network = HostNetwork().open()
    joined = time.monotonic()
    guest = guest_factory_module("tls4", fleet.user_data, network=network)
    fleet.hosts.append((guest, network))
    wait_for(lambda: _trusted_https(fleet, network.guest_address), timeout=420, interval=1, what="the fourth host serving")
    FIGURES["a joining host: start to trusted HTTPS (s)"] = time.monotonic() - joined
    assert fleet.serial(network.guest_address) == serial
    assert fleet.pebble.orders() == orders
    fleet.balancer.set_backends([network.guest_address for _, network in fleet.hosts])


def test_a_renewal_under_load_reaches_every_host_without_a_failed_request(fleet: Fleet) -> None:
    before = fleet.serials()[0]
    orders = fleet.pebble.orders()
    with hosts_entry(DOMAIN, BALANCER_ADDRESS):
        load = wrk(f"https://{DOMAIN}/healthz", 60)
        result, stop, runner = bounded_load(fleet.https(BALANCER_ADDRESS), "/healthz", clients=8, seconds=60, max_requests=1_000_000)
        time.sleep(5)
        issuer = fleet.hosts[1][0]
        renewed = time.monotonic()
        renewal = issuer.exec(["/usr/local/sbin/app-host", "tls", "renew", "--force"], check=False, timeout=300)
        assert renewal.returncode == 0, renewal.stdout + renewal.stderr
        ordered = time.monotonic()
        FIGURES["renewal: forced order on one host (s)"] = ordered - renewed
        wait_for(
            lambda: len({serial for serial in fleet.serials()}) == 1 and fleet.serials()[0] != before,
            timeout=SYNC_SECONDS * 6,
            interval=0.5,
            what="every host on the renewed certificate",
        )
        FIGURES["renewal: issuer done to every host on the new serial (s)"] = time.monotonic() - ordered
        wrk_output = load.communicate(timeout=120)[0]
        stop.set()
        runner.join(timeout=30)
    requests, failed = wrk_failures(wrk_output)
    FIGURES["wrk requests during the renewal"] = requests
    FIGURES["python-client requests during the renewal"] = result.total
    assert requests > 500 and failed == 0, wrk_output
    assert result.total > 200 and result.failures == 0, (result.statuses, result.errors[:5])
    assert fleet.pebble.orders() == orders + 1


def test_the_issuer_killed_mid_order_another_host_completes(fleet: Fleet) -> None:
    """The lock dies with its holder: the next host's run takes it and orders."""
    before = fleet.serials()[0]
    orders = fleet.pebble.orders()
    challenges_before = set(fleet.s3.keys(BUCKET, f"{PREFIX}/challenges/"))
    first, second = fleet.hosts[0][0], fleet.hosts[2][0]
    # The CA's validation cannot reach the balancer: the order hangs, so the kill lands in it.
    with iptables_rule("OUTPUT", "-d", BALANCER_ADDRESS, "-p", "tcp", "--dport", "80", "-j", "DROP"):
        first.exec(["systemd-run", "--unit=tls-order-killed", "--collect", "/usr/local/sbin/app-host", "tls", "renew", "--force"])
        wait_for(
            lambda: set(fleet.s3.keys(BUCKET, f"{PREFIX}/challenges/")) - challenges_before != set(),
            timeout=120,
            interval=0.2,
            what="the first host's challenge in the store (its order under way)",
        )
        first.exec(["systemctl", "kill", "--signal=KILL", "tls-order-killed.service"])
    completed = second.exec(["/usr/local/sbin/app-host", "tls", "renew", "--force", "--wait", "120"], check=False, timeout=300)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    wait_for(lambda: len(set(fleet.serials())) == 1 and fleet.serials()[0] != before, timeout=SYNC_SECONDS * 6, interval=0.5, what="every host on the second host's certificate")
    assert fleet.pebble.orders() == orders + 2  # the abandoned order and the completed one
    assert "ordering a certificate" in completed.stdout


def test_with_the_store_unreachable_hosts_keep_serving_and_say_why(fleet: Fleet) -> None:
    serial = fleet.serials()[0]
    guest, network = fleet.hosts[1]
    with iptables_rule("INPUT", "-s", "10.213.0.0/16", "-d", SERVICES_ADDRESS, "-p", "tcp", "--dport", str(fleet.s3.port), "-j", "REJECT", "--reject-with", "tcp-reset"):
        sync = guest.exec(["/usr/local/sbin/app-host", "tls", "sync"], check=False, timeout=120)
        assert "store unreachable" in sync.stdout + sync.stderr
        assert "keeping" in sync.stdout + sync.stderr
        # A reboot while the store is away: the real certificate, never the placeholder.
        guest.reboot()
        wait_for(lambda: _trusted_https(fleet, network.guest_address), timeout=180, interval=0.5, what="HTTPS after the reboot")
        assert fleet.serial(network.guest_address) == serial
        assert fleet.serials() == [serial] * len(fleet.hosts)


def _pair(names: list[str], *, days: tuple[int, int] = (-1, 90), issuer_key: ec.EllipticCurvePrivateKey | None = None) -> tuple[bytes, bytes, int]:
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days[0]))
        .not_valid_after(now + datetime.timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .sign(issuer_key or key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return pem, key_pem, certificate.serial_number


def _plant(fleet: Fleet, fullchain: bytes, key: bytes, serial: int) -> None:
    hexa = format(serial, "x")
    fleet.s3.put(BUCKET, f"{PREFIX}/certificates/{hexa}/fullchain.pem", fullchain)
    fleet.s3.put(BUCKET, f"{PREFIX}/certificates/{hexa}/privkey.pem", key)
    manifest = {
        "serial": hexa,
        "fullchain_sha256": hashlib.sha256(fullchain).hexdigest(),
        "privkey_sha256": hashlib.sha256(key).hexdigest(),
    }
    fleet.s3.put(BUCKET, f"{PREFIX}/current.json", json.dumps(manifest).encode())


def test_bad_certificates_in_the_store_are_refused(fleet: Fleet) -> None:
    serial = fleet.serials()[0]
    real_manifest = fleet.s3.get(BUCKET, f"{PREFIX}/current.json")
    assert real_manifest is not None
    real_chain = fleet.s3.get(BUCKET, f"{PREFIX}/certificates/{format(serial, 'x')}/fullchain.pem")
    assert real_chain is not None
    guest = fleet.hosts[0][0]
    other_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    expired = _pair([DOMAIN], days=(-30, -1))
    other_name = _pair(["www.other.test"])
    self_signed = _pair([DOMAIN])
    cases = {
        "it expired": expired,
        "not for ['api.fleet.test']": other_name,
        "the private key does not belong to the certificate": (real_chain, other_key, serial + 1),
        "its chain does not lead to a trusted root": self_signed,
    }
    try:
        for reason, (chain, key, planted) in cases.items():
            _plant(fleet, chain, key, planted)
            sync = guest.exec(["/usr/local/sbin/app-host", "tls", "sync"], check=False, timeout=120)
            said = sync.stdout + sync.stderr
            assert f"refused serial {format(planted, 'x')}" in said and reason in said, said
            assert fleet.serial(fleet.hosts[0][1].guest_address) == serial
    finally:
        fleet.s3.put(BUCKET, f"{PREFIX}/current.json", real_manifest)


def _unit_property(guest: Guest, unit: str, name: str) -> str:
    return guest.exec(["systemctl", "show", "-p", name, "--value", unit]).stdout.strip()


def _kill_past_the_restart_limit(guest: Guest) -> None:
    """kill -9 the app's master each time systemd restarts it, until systemd gives up
    (StartLimitBurst: 5 starts in 10 s): the service stays failed and its socket fails
    with it ('service-start-limit-hit'), so nothing restarts the app."""
    slot = serving_slot(guest)
    socket_unit, service_unit = f"api@{slot}.socket", f"api@{slot}.service"
    deadline = time.monotonic() + 60
    while _unit_property(guest, socket_unit, "Result") != "service-start-limit-hit":
        assert time.monotonic() < deadline, _unit_property(guest, service_unit, "ActiveState")
        master = _unit_property(guest, service_unit, "MainPID")
        if master not in ("", "0"):
            guest.exec(["kill", "-9", master], check=False)
        time.sleep(0.2)
    assert _unit_property(guest, service_unit, "ActiveState") == "failed"


def test_a_host_whose_app_is_dead_leaves_the_balancer_and_returns_once_it_recovers(fleet: Fleet) -> None:
    """The balancer checks the hosts' health gate, not 443 (where Nginx accepts with the app
    dead): a host whose app is past its restart limit is out of both listeners within 15 s,
    the others keep serving, and it is back once the app is."""
    guest, network = fleet.hosts[0]
    address = network.guest_address

    def state() -> tuple[str, str]:
        return fleet.balancer.states(80)[address], fleet.balancer.states(443)[address]

    wait_for(lambda: state() == ("UP", "UP"), timeout=60, interval=0.5, what="the host in the balancer")
    first_kill = time.monotonic()
    _kill_past_the_restart_limit(guest)
    dead = time.monotonic()
    wait_for(lambda: state() == ("DOWN", "DOWN"), timeout=30, interval=0.2, what="the host out of the balancer")
    out = time.monotonic()
    FIGURES["app past its restart limit: failed unit to out of the balancer (s)"] = out - dead
    FIGURES["app past its restart limit: first kill to out of the balancer (s)"] = out - first_kill
    assert out - dead <= 15
    # Nginx on the host still accepts on 443 and answers 502: what a TCP check on 443 saw.
    assert fleet.https(address).get("/healthz")[0] == 502
    balanced = fleet.https(BALANCER_ADDRESS)
    assert [balanced.get("/healthz")[0] for _ in range(12)] == [200] * 12

    slot = serving_slot(guest)
    guest.exec(["systemctl", "reset-failed", f"api@{slot}.service", f"api@{slot}.socket"])
    guest.exec(["systemctl", "start", f"api@{slot}.socket", f"api@{slot}.service"])
    restarted = time.monotonic()
    wait_for(lambda: state() == ("UP", "UP"), timeout=60, interval=0.2, what="the host back in the balancer")
    FIGURES["app restarted to back in the balancer (s)"] = time.monotonic() - restarted


def test_hosts_dumping_at_once_make_one_dump_and_any_host_restores_it(fleet: Fleet, postgres: PostgresServer) -> None:
    """The daily timer fires on every host: two start the dump together, one makes it. A
    third host restores it into a new database and checks it against its record."""
    text = f"before the dump {secrets.token_hex(4)}"
    status, _, _ = fleet.https(BALANCER_ADDRESS).request(
        "POST", "/notes", json.dumps({"text": text}).encode(), {"Content-Type": "application/json"}
    )
    assert status == 201
    started = time.monotonic()
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(
            lambda guest: guest.exec(["systemctl", "start", "app-host-backup.service"], check=False, timeout=300),
            [fleet.hosts[0][0], fleet.hosts[1][0]],
        ))  # fmt: skip
    FIGURES["two hosts dumping at once: both done (s)"] = time.monotonic() - started
    assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
    said = [
        guest.exec(["journalctl", "-u", "app-host-backup.service", "--no-pager", "-o", "cat"]).stdout
        for guest in (fleet.hosts[0][0], fleet.hosts[1][0])
    ]
    assert sorted("dumped " in text for text in said) == [False, True], said
    listed = fleet.s3.client().list_objects_v2(Bucket=BUCKET, Prefix="backups/api/")
    keys = sorted(item["Key"].rsplit("/", 1)[1] for item in listed.get("Contents", []))
    assert len(keys) == 3 and keys[-1] == "latest.json", keys
    dump = next(key for key in keys if key.endswith(".dump"))
    head = fleet.s3.client().head_object(Bucket=BUCKET, Key=f"backups/api/{dump}")
    assert head["ServerSideEncryption"] == "AES256"
    # Both runs ended well, and say so to the metrics through the sandboxed unit; the one that
    # dumped also tells the dump's time (the other found the lock taken while the dump was
    # still being made: it tells the time at its next run or boot).
    latest = json.loads(fleet.s3.client().get_object(Bucket=BUCKET, Key="backups/api/latest.json")["Body"].read())
    taken = datetime.datetime.fromisoformat(latest["created"]).timestamp()
    for guest, account in zip((fleet.hosts[0][0], fleet.hosts[1][0]), said, strict=True):
        page = guest.exec(["cat", "/var/lib/prometheus/node-exporter/app_backup.prom"]).stdout
        facts = dict(line.split() for line in page.splitlines() if not line.startswith("#"))
        assert float(facts["app_backup_last_run_success"]) == 1, page
        if "dumped " in account:
            assert float(facts["app_backup_newest_dump_timestamp_seconds"]) == taken, page

    password = secrets.token_urlsafe(12)
    postgres.create_database("fleet_restored", "fleet_restored", password, host=SERVICES_ADDRESS)
    target = f"postgresql://fleet_restored@{SERVICES_ADDRESS}:{postgres.port}/fleet_restored"
    restorer = fleet.hosts[2][0]
    # The password in PGPASSWORD: on the command line it would be in the process list.
    restored = restorer.exec(
        ["env", f"PGPASSWORD={password}", "/usr/local/sbin/app-host", "restore", "--into", target], check=False, timeout=300
    )
    assert restored.returncode == 0, restored.stdout + restored.stderr
    assert postgres.query("fleet_restored", "SELECT count(*) FROM notes WHERE text = %s", (text,)) == [(1,)]
    # The target's password is nowhere in the host's journal.
    assert password not in restorer.exec(["journalctl", "--no-pager", "-o", "cat"]).stdout
