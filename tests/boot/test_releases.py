"""Releases on booted hosts: a new app version reaches a fleet in place, under load.

The test bed: two Debian guests booting the same user data, each in its own network
namespace, behind HAProxy configured as the CLB (health checks on the hosts' gate); moto as
the bucket, a real Postgres, the sample app from the store. What the stack does for a new
version, the test does: upload the app's file, rewrite the release record. The hosts' timers
do the rest.

In file order: the hosts boot on v1; v2 (a migration, a new /version) rolls through one host
at a time under constant load; a rollback to v1 goes two at a time; a broken v3 (never ready)
stops at the first host while v1 keeps serving, and the deploy step's watch says so; a new
host whose first release fails reports it and heals; last, a user-data change replaces both
hosts through the fleet roll (it retires the bed's hosts, so it comes last).
"""

from __future__ import annotations

import datetime
import json
import re
import secrets
import shutil
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from fastapi_deploy.app_host.config import StoreConfig
from fastapi_deploy.app_host.release import ReleaseRecord, abandoned_key, report_key
from fastapi_deploy.app_host.release_watch import ReleaseNotServed, watch
from fastapi_deploy.app_host.store import S3Store
from fastapi_deploy.artifacts import LocalArtifact, project_artifact
from fastapi_deploy.cloud_init import render_user_data
from fastapi_deploy.fleet_roll import VolcengineFleetApi, roll
from fastapi_deploy.stack_model import AppHostSpec, Capacity, SelfSignedCertificates
from fastapi_deploy.stack_model.host_spec import HEALTH_GATE_PORT
from tests.boot.harness import (
    BALANCER_ADDRESS,
    SERVICES_ADDRESS,
    Guest,
    GuestFactory,
    HostNetwork,
    HostNetworkFactory,
    PackageIndex,
    PostgresServer,
    S3Server,
    SharedAddresses,
    TcpBalancer,
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
from tests.boot.probes import PinnedHttps, wrk, wrk_failures, wrk_p99_ms
from tests.unit.volcengine_stand_in import ACCESS_KEY, REGION, Fleet, Instance, StandIn

pytestmark = pytest.mark.boot

DOMAIN = "api.release.test"
BUCKET = "releases-test"
DATABASE = "notes_release"
# Short, so the broken release is abandoned quickly; the good ones are ready in seconds.
READY_TIMEOUT_SECONDS = 45
FIGURES: dict[str, float] = {}

MIGRATION_0002 = '''"""add note tags (expand: nullable, so the previous release still works)

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("notes", sa.Column("tags", sa.String(length=200), nullable=True))


def downgrade() -> None:
    op.drop_column("notes", "tags")
'''


def app_version(root: Path, version: str, *, migration: bool = False, never_ready: bool = False) -> LocalArtifact:
    """The sample app at another version: /version says so; v2 adds a migration; a broken
    one never answers its readiness path with 200."""
    project = root / f"v{version}" / "app"
    shutil.copytree(APP_PROJECT, project, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__", "tests"))
    init = project / "notes_api" / "__init__.py"
    init.write_text(init.read_text().replace('__version__ = "0.1.0"', f'__version__ = "{version}"'))
    pyproject = project / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "0.1.0"', f'version = "{version}"'))
    if migration:
        (project / "notes_api" / "migrations" / "versions" / "0002_add_note_tags.py").write_text(MIGRATION_0002)
    if never_ready:
        main = project / "notes_api" / "main.py"
        main.write_text(main.read_text().replace("if readiness.ready:", "if False:  # broken on purpose"))
    return project_artifact(project)


@dataclass
class Bed:
    spec: AppHostSpec
    user_data: str
    s3: S3Server
    postgres: PostgresServer
    balancer: TcpBalancer
    work: Path
    hosts: list[tuple[Guest, HostNetwork]] = field(default_factory=list)

    def release(self, artifact: LocalArtifact, **rollout: int | str) -> tuple[AppHostSpec, ReleaseRecord]:
        """What `pulumi up` does with a new version: its file into the bucket, the record
        rewritten. Returns the spec and the record."""
        self.s3.put(BUCKET, artifact.ref.key, artifact.path.read_bytes())
        spec = self.spec.model_copy(update={"app": self.spec.app.model_copy(update={"package": artifact.ref}), **rollout})
        # The hosts' user data does not change with the version.
        if spec.app_name == self.spec.app_name:
            assert render_user_data(spec).cloud_config == self.user_data
        return spec, publish_release(self.s3, spec)

    def version(self, address: str) -> str:
        try:
            status, _, body = PinnedHttps(DOMAIN, address, None).get("/version")
        except OSError:
            return ""
        return str(json.loads(body)["version"]) if status == 200 else ""

    def versions(self) -> list[str]:
        return [self.version(network.guest_address) for _, network in self.hosts]

    def report(self, guest: Guest) -> dict[str, str]:
        host = guest.exec(["cat", "/var/lib/cloud/data/instance-id"]).stdout.strip()
        data = self.s3.client().get_object(Bucket=BUCKET, Key=report_key("api", host))["Body"].read()
        return dict(json.loads(data))

    def store(self) -> S3Store:
        return S3Store(
            StoreConfig(
                kind="s3", path=Path(), endpoint_url=self.s3.endpoint_for("127.0.0.1"), bucket=BUCKET,
                region=self.s3.region, addressing_style="path", access_key_id=self.s3.access_key_id,
                secret_access_key=self.s3.secret_access_key,
            )
        )  # fmt: skip


@pytest.fixture(scope="module")
def bed(
    guest_factory_module: GuestFactory,
    shared_addresses: SharedAddresses,
    app_index: PackageIndex,
    postgres: PostgresServer,
    s3: S3Server,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Bed]:
    spec = AppHostSpec(
        domains=(DOMAIN,),
        certificates=SelfSignedCertificates(),
        app=sample_app_spec(app_index.url_for(SERVICES_ADDRESS)),
        store=publish_for_hosts(s3, BUCKET, SERVICES_ADDRESS, app_project=APP_PROJECT),
        capacity=Capacity(vcpus=1, memory_mib=1024),
        database_url=postgres.create_database(DATABASE, DATABASE, secrets.token_urlsafe(12), host=SERVICES_ADDRESS),
        refresh_package_index=False,
        health_gate_port=HEALTH_GATE_PORT,
        release_ready_timeout_seconds=READY_TIMEOUT_SECONDS,
    )
    publish_release(s3, spec)
    user_data = render_user_data(spec).cloud_config
    work = tmp_path_factory.mktemp("releases")
    balancer = TcpBalancer(work / "balancer")
    (work / "balancer").mkdir()
    built = Bed(spec, user_data, s3, postgres, balancer, work)
    networks = [HostNetwork().open() for _ in range(2)]
    try:
        balancer.set_backends([network.guest_address for network in networks])
        for number, network in enumerate(networks, start=1):
            built.hosts.append((guest_factory_module(f"rel{number}", user_data, network=network), network))
        wait_for(lambda: built.versions() == ["0.1.0", "0.1.0"], timeout=600, interval=1, what="both hosts serving v1")
        wait_for(
            lambda: all(state == ("UP", "UP") for state in _balanced(built)), timeout=60, interval=0.5, what="both hosts in the balancer"
        )
        yield built
    finally:
        balancer.stop()
        for guest, _ in built.hosts:
            guest.stop()
        for network in networks:
            network.close()
        print("\nrelease figures:", json.dumps({key: round(value, 2) for key, value in FIGURES.items()}))


def _balanced(bed: Bed) -> list[tuple[str, str]]:
    return [(bed.balancer.states(80)[network.guest_address], bed.balancer.states(443)[network.guest_address]) for _, network in bed.hosts]


def _release_log(guest: Guest) -> list[tuple[float, str]]:
    out = guest.exec(["journalctl", "-u", "app-host-release.service", "-o", "short-unix", "--no-pager"]).stdout
    lines = []
    for line in out.splitlines():
        stamp, _, text = line.partition(" ")
        try:
            lines.append((float(stamp), text))
        except ValueError:
            continue
    return lines


def _switch_window(guest: Guest, release_id: str) -> tuple[float, float]:
    """When this host began installing `release_id` and when it switched to it."""
    log = _release_log(guest)
    began = next(stamp for stamp, text in log if f"({release_id}) into the" in text and "installing" in text)
    switched = next(stamp for stamp, text in log if "switched to" in text and f"({release_id})" in text and stamp >= began)
    return began, switched


def _slot_stopped(guest: Guest, slot: str) -> bool:
    return guest.exec(["systemctl", "is-active", f"api@{slot}.service"], check=False).stdout.strip() != "active"


def _under_load(bed: Bed, publish: object, until: object, label: str, timeout: float = 420) -> tuple[int, int, float]:
    """wrk through the balancer while `publish()` runs and until `until()` holds; returns
    (requests, failed, p99 ms) of that window."""
    assert callable(publish) and callable(until)
    load = wrk(f"https://{DOMAIN}/version", 900, timeout_seconds=10)
    try:
        time.sleep(3)
        started = time.monotonic()
        publish()
        wait_for(until, timeout=timeout, interval=1, what=label)
        FIGURES[f"{label}: record written to done (s)"] = time.monotonic() - started
        time.sleep(2)
    finally:
        load.send_signal(signal.SIGINT)
        output = load.communicate(timeout=60)[0]
    requests, failed = wrk_failures(output)
    return requests, failed, wrk_p99_ms(output)


def test_the_hosts_boot_on_the_current_release(bed: Bed) -> None:
    for guest, _ in bed.hosts:
        assert guest.wait_for_cloud_init(300)["v1"]["errors"] == []
        assert guest.failed_units() == []
        assert serving_slot(guest) == "blue"
        report = bed.report(guest)
        assert report["state"] == "serving" and report["serving"].startswith("app-src.tar.gz-")
    assert bed.postgres.query(DATABASE, "SELECT version_num FROM alembic_version") == [("0001",)]


def test_a_new_version_rolls_through_the_fleet_one_host_at_a_time_without_a_failed_request(bed: Bed) -> None:
    v2 = app_version(bed.work, "0.2.0", migration=True)
    with hosts_entry(DOMAIN, BALANCER_ADDRESS):
        steady = wrk(f"https://{DOMAIN}/version", 10, timeout_seconds=10)
        steady_output = steady.communicate(timeout=60)[0]
        FIGURES["steady p99 (ms)"] = wrk_p99_ms(steady_output)
        release: dict[str, str] = {}

        def publish() -> None:
            release["id"] = bed.release(v2)[1].id

        def done() -> bool:
            return bed.versions() == ["0.2.0", "0.2.0"] and all(_slot_stopped(guest, "blue") for guest, _ in bed.hosts)

        requests, failed, p99 = _under_load(bed, publish, done, "v2 to both hosts")
    FIGURES["during v2 release: requests"] = requests
    FIGURES["during v2 release: p99 (ms)"] = p99
    assert assert_no_failures(requests, failed)
    # The migration ran once, from the first host to release, before its switch.
    upgrades = [
        guest.exec(["journalctl", "-u", "api-migrate@*.service", "--no-pager", "-o", "cat"]).stdout.count("Running upgrade 0001 -> 0002")
        for guest, _ in bed.hosts
    ]
    assert sorted(upgrades) == [0, 1], upgrades
    assert bed.postgres.query(DATABASE, "SELECT version_num FROM alembic_version") == [("0002",)]
    # One host at a time (releaseBatchSize 1): the second began installing after the first switched.
    windows = sorted(_switch_window(guest, release["id"]) for guest, _ in bed.hosts)
    assert windows[0][1] <= windows[1][0], windows
    FIGURES["v2: one host, install to switch (s)"] = windows[0][1] - windows[0][0]
    for guest, _ in bed.hosts:
        assert serving_slot(guest) == "green"
        assert bed.report(guest)["serving"] == release["id"]
        # Enabled for the next boot: the new slot, not the old.
        enabled = guest.exec(["systemctl", "is-enabled", "api@green.service", "api@blue.service"], check=False).stdout.split()
        assert enabled == ["enabled", "disabled"], enabled
    watched = watch(bed.store(), "api", release["id"], attempt_id="", min_hosts=2, timeout_seconds=30, say=lambda _: None)
    assert len(watched.serving) == 2


def assert_no_failures(requests: int, failed: int) -> bool:
    assert requests > 1000 and failed == 0, (requests, failed)
    return True


def test_a_rollback_is_the_same_path_two_hosts_at_once(bed: Bed) -> None:
    v1 = project_artifact(APP_PROJECT)
    with hosts_entry(DOMAIN, BALANCER_ADDRESS):

        def publish() -> None:
            bed.release(v1, release_batch_size=2)

        def done() -> bool:
            return bed.versions() == ["0.1.0", "0.1.0"] and all(_slot_stopped(guest, "green") for guest, _ in bed.hosts)

        requests, failed, p99 = _under_load(bed, publish, done, "rollback to v1")
    FIGURES["during rollback: p99 (ms)"] = p99
    assert assert_no_failures(requests, failed)
    # v1 serves on the schema v2 expanded: ready, and it says so.
    status, _, body = PinnedHttps(DOMAIN, bed.hosts[0][1].guest_address, None).get("/readyz")
    assert status == 200 and json.loads(body)["checks"]["schema"] == "0002 (ahead of this release)"


def test_a_release_that_never_gets_ready_stops_at_the_first_host(bed: Bed) -> None:
    v3 = app_version(bed.work, "0.3.0", never_ready=True)
    _, record = bed.release(v3)
    release_id = record.id
    client = bed.s3.client()

    def abandoned() -> bool:
        try:
            client.head_object(Bucket=BUCKET, Key=abandoned_key("api", record.attempt_id))
            return True
        except Exception:
            return False

    wait_for(abandoned, timeout=300, interval=1, what="the broken release abandoned")
    marker = json.loads(client.get_object(Bucket=BUCKET, Key=abandoned_key("api", record.attempt_id))["Body"].read())
    assert re.search(r"not ready within 45s \(readiness 503", marker["reason"]), marker
    # Give the other host a few checks: it must not try.
    time.sleep(30)
    tried = [any(f"({release_id}) into the" in text for _, text in _release_log(guest)) for guest, _ in bed.hosts]
    assert sorted(tried) == [False, True], tried
    assert bed.versions() == ["0.1.0", "0.1.0"]
    states = sorted(bed.report(guest)["state"] for guest, _ in bed.hosts)
    assert states == ["abandoned", "abandoned"] or states == ["abandoned", "failed"], states
    with pytest.raises(ReleaseNotServed, match=rf"release {re.escape(release_id)} abandoned on .*not ready within 45s"):
        watch(bed.store(), "api", release_id, attempt_id=record.attempt_id, min_hosts=2, timeout_seconds=30, say=lambda _: None)
    # The broken slot was stopped; the old one serves through the balancer.
    balanced = PinnedHttps(DOMAIN, BALANCER_ADDRESS, None)
    assert [balanced.get("/healthz")[0] for _ in range(6)] == [200] * 6
    for guest, _ in bed.hosts:
        assert _slot_stopped(guest, "blue" if serving_slot(guest) == "green" else "green")


def test_a_host_whose_first_release_fails_reports_it_and_heals_once_the_record_is_fixed(
    bed: Bed, guest_factory: GuestFactory, host_network_factory: HostNetworkFactory
) -> None:
    """A new host that cannot install the current release (here a pin its index does not
    have) serves nothing: it says why in its report, the deploy step's watch names it at
    once, and its timer keeps trying, so a fixed record (or an index back up) heals it."""
    broken_app = bed.spec.app.model_copy(update={"package": None, "requirement": "notes-api-missing==9.9"})
    spec = bed.spec.model_copy(update={"app_name": "api2", "app": broken_app})
    release_id = publish_release(bed.s3, spec).id
    network = host_network_factory()
    guest = guest_factory("rel3", render_user_data(spec).cloud_config, network=network)
    host = ""

    def report() -> dict[str, str]:
        nonlocal host
        host = host or guest.exec(["cat", "/var/lib/cloud/data/instance-id"], check=False).stdout.strip()
        try:
            data = bed.s3.client().get_object(Bucket=BUCKET, Key=report_key("api2", host))["Body"].read()
        except Exception:
            return {}
        return dict(json.loads(data))

    wait_for(lambda: report().get("state") == "boot-failed", timeout=420, interval=1, what="the boot failure reported")
    first = report()
    assert "No matching distribution found for notes-api-missing==9.9" in first["detail"], first
    with pytest.raises(ReleaseNotServed, match=rf"(?s){host} failed to boot: .*notes-api-missing==9\.9"):
        watch(bed.store(), "api2", release_id, attempt_id="", min_hosts=1, timeout_seconds=60, say=lambda _: None)
    # The timer tries again (and reports again) by itself.
    wait_for(lambda: report().get("at", "") > first["at"], timeout=90, interval=1, what="a second try")
    # Fixed: the sample app as released before; the host installs it and serves.
    fixed = bed.release(project_artifact(APP_PROJECT), app_name="api2")[1]
    wait_for(lambda: bed.version(network.guest_address) == "0.1.0", timeout=300, interval=1, what="the host healed")
    served = watch(bed.store(), "api2", fixed.id, attempt_id=fixed.attempt_id, min_hosts=1, timeout_seconds=60, say=lambda _: None)
    assert served.serving == (host,)


@dataclass
class BootedFleet(Fleet):
    """The Auto Scaling stand-in with real hosts behind it. A launch boots a guest from the
    group's (new) user data; the CLB stand-in (HAProxy) gets a host once the host's gate passed
    as many checks as the CLB needs (a host the CLB just registered is unhealthy until then);
    health is what HAProxy's checks say; a removal deregisters the host (HAProxy reloads, the
    old process drains what it holds) and powers it off."""

    boot: Callable[[str], tuple[Guest, HostNetwork]] | None = None
    balancer: TcpBalancer | None = None
    addresses: dict[str, str] = field(default_factory=dict)
    guests: dict[str, Guest] = field(default_factory=dict)
    drain_seconds: float = 3.0

    def adopt(self, instance_id: str, guest: Guest, address: str, age_hours: float) -> None:
        with self.lock:
            created = datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=age_hours)
            self.instances[instance_id] = Instance(instance_id, created, status="InService", healthy=True)
            self.addresses[instance_id], self.guests[instance_id] = address, guest

    def _converge(self) -> None:
        assert self.boot is not None and self.balancer is not None
        with self.lock:
            missing = self.desired - len(self.instances)
            if missing <= 0:
                return
            self.lifecycle_state = "Locked"
            launched = [Instance(f"i-boot{next(self._ids):03d}", datetime.datetime.now(datetime.UTC)) for _ in range(missing)]
            for instance in launched:
                self.instances[instance.instance_id] = instance
        for instance in launched:
            guest, network = self.boot(instance.instance_id)
            with self.lock:
                instance.status = "InService"
                self.addresses[instance.instance_id], self.guests[instance.instance_id] = network.guest_address, guest
        with self.lock:
            self.lifecycle_state = "Active"
        for instance in launched:
            threading.Thread(target=self._register, args=(instance,), daemon=True).start()

    def _register(self, instance: Instance) -> None:
        """The CLB's view: the host's gate must pass `healthy_threshold` checks in a row."""
        from fastapi_deploy.components.load_balancer import LoadBalancerArgs

        defaults = {name: item.default for name, item in LoadBalancerArgs.model_fields.items()}
        address, passed = self.addresses[instance.instance_id], 0
        while passed < defaults["healthy_threshold"] and instance.status == "InService":
            try:
                with socket.create_connection((address, HEALTH_GATE_PORT), defaults["health_check_timeout_seconds"]):
                    passed += 1
            except OSError:
                passed = 0
            time.sleep(defaults["health_check_interval_seconds"])
        with self.lock:
            if instance.status == "InService" and self.balancer is not None:
                self.balancer.reload([*self.balancer.backends, address])

    def _remove(self, instance_ids: list[str]) -> None:
        assert self.balancer is not None
        with self.lock:
            for instance_id in instance_ids:
                self.instances[instance_id].status = "Removing"
            leaving = {self.addresses[instance_id] for instance_id in instance_ids}
            self.balancer.reload([address for address in self.balancer.backends if address not in leaving])
        time.sleep(self.drain_seconds)
        for instance_id in instance_ids:
            self.guests[instance_id].stop()
        with self.lock:
            for instance_id in instance_ids:
                del self.instances[instance_id]
            self.lifecycle_state = "Active"

    def backend_up(self, instance: Instance, listener_id: str) -> bool:
        assert self.balancer is not None
        port = {"lsn-80": 80, "lsn-443": 443}[listener_id]
        try:
            return self.addresses.get(instance.instance_id, "") in self.balancer.up(port)
        except (OSError, IndexError, ValueError):
            return False


def test_a_user_data_change_rolls_the_fleet_through_new_hosts_without_a_failed_request(
    bed: Bed, guest_factory: GuestFactory, host_network_factory: HostNetworkFactory
) -> None:
    """What FleetRoll does after a change only new hosts get, on booted hosts: the roll (the
    real module, through the real Volcengine SDK) drives the Auto Scaling stand-in, whose
    launches boot guests from the new user data behind the CLB stand-in. A probe through the
    balancer (a new connection each time, as clients arriving) never fails, the balancer never
    has fewer than two hosts up, and the fleet ends on two new hosts serving the release."""
    # The fleet's release must be a good one for new hosts to boot into (v3 was abandoned).
    bed.release(project_artifact(APP_PROJECT))
    new_spec = bed.spec.model_copy(update={"capacity": Capacity(vcpus=1, memory_mib=1536)})
    new_user_data = render_user_data(new_spec).cloud_config
    assert new_user_data != bed.user_data

    def boot(instance_id: str) -> tuple[Guest, HostNetwork]:
        network = host_network_factory()
        return guest_factory(instance_id.replace("i-", ""), new_user_data, network=network), network

    fleet = BootedFleet(boot=boot, balancer=bed.balancer, listener_ids=("lsn-80", "lsn-443"))
    for number, (guest, network) in enumerate(bed.hosts, start=1):
        fleet.adopt(f"i-rel{number}", guest, network.guest_address, age_hours=3 - number * 0.1)
    fleet.change_configuration()
    old_addresses = {network.guest_address for _, network in bed.hosts}

    probes = {"ok": 0, "failed": 0, "min_up": 99}
    errors: list[str] = []
    stop = threading.Event()

    def probe() -> None:
        client = PinnedHttps(DOMAIN, BALANCER_ADDRESS, None, timeout=5)
        while not stop.is_set():
            try:
                status = client.get("/healthz")[0]
                probes["ok" if status == 200 else "failed"] += 1
                if status != 200:
                    errors.append(f"HTTP {status}")
            except OSError as error:
                probes["failed"] += 1
                errors.append(repr(error))
            try:
                up = bed.balancer.up(443)
                if len(up) < 2:
                    errors.append(f"up: {sorted(up)}")
                probes["min_up"] = min(probes["min_up"], len(up))
            except (OSError, IndexError, ValueError):
                pass
            time.sleep(0.1)

    prober = threading.Thread(target=probe, daemon=True)
    lines: list[str] = []
    with StandIn(fleet) as stand_in:
        api = VolcengineFleetApi(
            region=REGION, access_key=ACCESS_KEY, secret_key="standin-secret", scaling_group_id="scg-standin",
            listener_ids=fleet.listener_ids, host=stand_in.host,
        )  # fmt: skip
        prober.start()
        started = time.monotonic()
        try:
            report = roll(api, batch_size=1, health_timeout_seconds=600, poll_seconds=1, log=lines.append)
        finally:
            stop.set()
            prober.join(timeout=30)
    FIGURES["fleet roll, 2 hosts one at a time (s)"] = time.monotonic() - started
    FIGURES["fleet roll: probes"] = probes["ok"] + probes["failed"]
    print("\nfleet roll:", *lines, sep="\n  ")

    assert report.replaced == ("i-rel1", "i-rel2"), lines
    assert probes["failed"] == 0 and probes["ok"] > 100, (probes, errors[:5])
    assert probes["min_up"] >= 2, (probes, errors[:5])
    # Two new hosts behind the balancer, both serving the release, the old ones off.
    assert len(bed.balancer.backends) == 2 and not old_addresses & set(bed.balancer.backends)
    for address in bed.balancer.backends:
        assert bed.version(address) == "0.1.0"
    # The old hosts are gone: nothing answers at their addresses.
    assert [bed.version(address) for address in sorted(old_addresses)] == ["", ""]
    assert (fleet.desired, fleet.max_size, fleet.suspended) == (2, 4, set())
