"""Two app hosts boot at the same time against one database: the schema is migrated once.

Each host lives in its own network namespace (both run Nginx on 80/443) and reaches the
database, the bucket and the package index at the shared services address: the release
record, which names the index, is one for the fleet. Self-signed certificates: ACME on a
fleet is a later piece of work.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import psycopg
import pytest

from fastapi_deploy.cloud_init import render_user_data
from fastapi_deploy.cloud_init.systemd import migration_lock_key
from fastapi_deploy.stack_model import AppHostSpec, Capacity, SelfSignedCertificates
from tests.boot.harness import (
    SERVICES_ADDRESS,
    GuestFactory,
    HostNetwork,
    HostNetworkFactory,
    PackageIndex,
    PostgresServer,
    S3Server,
    SharedAddresses,
    iptables_rule,
    wait_for,
)
from tests.boot.host_parts import APP_PROJECT, publish_for_hosts, publish_release, sample_app_spec
from tests.boot.probes import PinnedHttps

pytestmark = pytest.mark.boot

DOMAIN = "api.example.test"


def _sample_host(
    network: HostNetwork, app_index: PackageIndex, s3: S3Server, bucket: str, database_url: str, **overrides: Any
) -> AppHostSpec:
    """The sample app on a small self-signed host, its store in `bucket`."""
    return AppHostSpec(
        domains=(DOMAIN,),
        certificates=SelfSignedCertificates(),
        app=sample_app_spec(app_index.url_for(SERVICES_ADDRESS)),
        store=publish_for_hosts(s3, bucket, SERVICES_ADDRESS, app_project=APP_PROJECT),
        capacity=Capacity(vcpus=1, memory_mib=1024),
        database_url=database_url,
        refresh_package_index=False,
        **overrides,
    )


def test_hosts_starting_together_migrate_the_schema_once(
    guest_factory: GuestFactory,
    host_network_factory: HostNetworkFactory,
    app_index: PackageIndex,
    postgres: PostgresServer,
    s3: S3Server,
    shared_addresses: SharedAddresses,
) -> None:
    password = secrets.token_urlsafe(16)
    networks = [host_network_factory(), host_network_factory()]
    guests = []
    for number, network in enumerate(networks, start=1):
        spec = _sample_host(
            network,
            app_index,
            s3,
            "notes-fleet",
            postgres.create_database("notes_fleet", "notes_fleet", password, host=SERVICES_ADDRESS)
            if number == 1
            else postgres.url("notes_fleet", password, "notes_fleet", SERVICES_ADDRESS),
        )
        publish_release(s3, spec)
        guests.append(guest_factory(f"fleet{number}", render_user_data(spec).cloud_config, network=network, start=False))
    # Hold the hosts' migration lock until both are queued on it, so they really contend
    # (the sample migration takes milliseconds; unheld, the hosts would rarely overlap).
    holder = psycopg.connect(postgres.url("notes_fleet", password, "notes_fleet"), autocommit=True)
    holder.execute("SELECT pg_advisory_lock(%s)", (migration_lock_key(spec),))
    started = time.monotonic()
    try:
        for guest in guests:
            guest.start()

        def all_waiting() -> bool:
            return all(
                "another host is migrating, waiting"
                in guest.exec(["journalctl", "-u", "api-migrate@*.service", "--no-pager", "-o", "cat"], check=False).stdout
                for guest in guests
            )

        wait_for(all_waiting, timeout=300, interval=1, what="both hosts waiting on the migration lock")
    finally:
        holder.close()  # releases the lock: the hosts now take it one after the other

    for guest in guests:
        assert guest.wait_for_cloud_init(timeout_seconds=420)["v1"]["errors"] == []
    elapsed = time.monotonic() - started

    upgrades = []
    for guest in guests:
        journal = guest.exec(["journalctl", "-u", "api-migrate@*.service", "--no-pager", "-o", "cat"]).stdout
        upgrades.append(journal.count("Running upgrade  -> 0001"))
        result = guest.exec(["systemctl", "show", "-p", "Result", "--value", "api-migrate@blue.service"]).stdout.strip()
        assert result == "success"
    assert sum(upgrades) == 1, upgrades
    assert postgres.query("notes_fleet", "SELECT version_num FROM alembic_version") == [("0001",)]

    for network in networks:
        client = PinnedHttps(DOMAIN, network.guest_address, None)

        def ready(client: PinnedHttps = client) -> bool:
            return client.get("/readyz")[0] == 200

        wait_for(ready, timeout=60, interval=0.5, what=f"readyz on {network.guest_address}")
        status, _, body = client.get("/readyz")
        assert status == 200 and json.loads(body)["status"] == "ready"
    print(f"\ntwo hosts ready {elapsed:.1f}s after start; migrations applied per host {upgrades}")


def test_a_host_booting_while_the_database_is_away_serves_once_it_is_back(
    guest_factory: GuestFactory,
    host_network_factory: HostNetworkFactory,
    app_index: PackageIndex,
    postgres: PostgresServer,
    s3: S3Server,
    shared_addresses: SharedAddresses,
) -> None:
    """RDS maintenance during a scale-out: the database is unreachable for longer than the
    migration's wait while a host boots. The host must not need a person: it answers
    /healthz, /readyz says 503, the migration retries on its own, and once the database is
    back the schema is migrated and /readyz turns 200."""
    network = host_network_factory()
    password = secrets.token_urlsafe(16)
    spec = _sample_host(
        network,
        app_index,
        s3,
        "notes-away",
        postgres.create_database("notes_away", "notes_away", password, host=SERVICES_ADDRESS),
        migration_wait_seconds=10,
    )
    publish_release(s3, spec)
    guest = guest_factory("away", render_user_data(spec).cloud_config, network=network, start=False)
    client = PinnedHttps(DOMAIN, network.guest_address, ca_pem=None)

    def status(path: str) -> int:
        try:
            return client.get(path)[0]
        except OSError:
            return 0

    def migration_log() -> str:
        return guest.exec(["journalctl", "-u", "api-migrate@*.service", "--no-pager", "-o", "cat"], check=False).stdout

    away = ("-s", network.guest_address, "-p", "tcp", "--dport", str(postgres.port), "-j", "REJECT", "--reject-with", "tcp-reset")
    with iptables_rule("INPUT", *away):
        guest.start()
        wait_for(lambda: status("/healthz") == 200, timeout=420, interval=1, what="the app up without its database")
        assert status("/readyz") == 503
        # At least two attempts have failed: the unit retries by itself.
        wait_for(lambda: migration_log().count("Scheduled restart job") >= 2, timeout=120, interval=1, what="the migration retrying")
        assert guest.wait_for_cloud_init(timeout_seconds=120)["v1"]["errors"] == []
    back = time.monotonic()
    wait_for(lambda: status("/readyz") == 200, timeout=120, interval=1, what="/readyz 200 once the database is back")
    print(f"\ndatabase back to /readyz 200: {time.monotonic() - back:.1f} s")
    with psycopg.connect(postgres.url("notes_away", password, "notes_away"), autocommit=True) as connection:
        assert len(connection.execute("SELECT version_num FROM alembic_version").fetchall()) == 1
    assert guest.failed_units() == []
