"""The dev stack for real: what `pulumi up --stack dev` creates, applied to a real Docker engine.

The program runs under the mocks (`run_main("dev")`), and `docker_replay` applies every
Docker resource it registered, with exactly those inputs, to a dockerd of the test's own.
Then the checks a user would make: HTTPS on 127.0.0.1:8443, readiness against the Postgres
container, a note through the API, ports on loopback only, nothing privileged; and the
faults a laptop sees: the app container restarted, the database restarted.

One config value differs from Pulumi.dev.yaml: the package index, a local one on the
engine's bridge (PyPI is behind a TLS-intercepting proxy here); a user's dev stack uses PyPI.
Measured (printed as "dev stack timings"): base images, the app-host image build cold and
warm, and container start to the first HTTPS 200.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography.x509.oid import NameOID

from fastapi_deploy.testing import ProgramRun
from tests.boot.conftest import module_failed
from tests.boot.docker_engine import DockerEngine, ensure_base_images
from tests.boot.docker_replay import CONTAINER, IMAGE, NETWORK, VOLUME, Replay, build_image, replay, teardown
from tests.boot.harness import PackageIndex, wait_for
from tests.boot.probes import PinnedHttps, http_get, served_certificate
from tests.mocks.harness import load_stack_file, run_main

DOMAIN = "api.dev.test"
LOOPBACK = "127.0.0.1"
TIMINGS: dict[str, float] = {}


@dataclass
class DevStack:
    engine: DockerEngine
    run: ProgramRun
    made: Replay
    https: PinnedHttps
    http_port: int
    app_container: str = field(default="")
    database_container: str = field(default="")


def _status(client: PinnedHttps, path: str) -> int:
    try:
        return client.get(path)[0]
    except OSError:
        return 0


def _leftovers(run: ProgramRun) -> Replay:
    """What an earlier, killed run may have left under the same names."""
    return Replay(
        containers={item.name: item.inputs["name"] for item in run.of_type(CONTAINER)},
        networks=[item.inputs["name"] for item in run.of_type(NETWORK)],
        volumes=[item.inputs["name"] for item in run.of_type(VOLUME)],
    )


def _collect_logs(engine: DockerEngine, made: Replay, log_dir: Path) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in made.containers.values():
        for label, argv in (
            ("docker-logs", ["logs", name]),
            ("journal", ["exec", name, "journalctl", "--no-pager", "-n", "400"]),
            ("cloud-init-output", ["exec", name, "cat", "/var/log/cloud-init-output.log"]),
        ):
            try:
                result = engine.docker(*argv, timeout=60)
                (log_dir / f"{name}-{label}.txt").write_bytes(result.stdout + result.stderr)
            except Exception as error:  # best effort: the failure itself is reported already
                (log_dir / f"{name}-{label}.txt").write_text(f"could not collect: {error}\n")


@pytest.fixture(scope="module")
def dev(
    request: pytest.FixtureRequest, docker_engine: DockerEngine, base_rootfs: Path, app_index: PackageIndex
) -> Iterator[DevStack]:
    TIMINGS.update(ensure_base_images(docker_engine, base_rootfs))
    run = run_main("dev", {"appPackageIndexUrl": app_index.url_for(docker_engine.bridge_gateway())})
    teardown(docker_engine, _leftovers(run))
    values, _ = load_stack_file("dev")
    https_port, http_port = int(values["devHttpsPort"]), int(values["devHttpPort"])
    made = Replay()
    try:
        started = time.monotonic()
        made = replay(docker_engine, run)
        image = run.one(IMAGE).name
        TIMINGS["app-host image build, as replayed (s)"] = made.seconds[f"Image {image}"]
        app = run.named("dev-app-host-container").inputs["name"]
        database = run.named("dev-postgres-container").inputs["name"]
        https = PinnedHttps(DOMAIN, LOOPBACK, ca_pem=None, port=https_port)
        after_start = time.monotonic()
        wait_for(lambda: _status(https, "/healthz") == 200, timeout=600, interval=1, what="HTTPS 200 from the dev app host")
        TIMINGS["app container start to first HTTPS 200 (s)"] = time.monotonic() - after_start
        TIMINGS["replay start to first HTTPS 200 (s)"] = time.monotonic() - started
        # Warm: the same build again, as a second `pulumi up` does.
        warm = time.monotonic()
        build_image(docker_engine, run.one(IMAGE).inputs)
        TIMINGS["app-host image build, warm (s)"] = time.monotonic() - warm
        yield DevStack(docker_engine, run, made, https, http_port, app, database)
    finally:
        log_dir = module_failed(request)
        if log_dir is not None:
            _collect_logs(docker_engine, made, log_dir)
        teardown(docker_engine, made)
        print("\ndev stack timings:", json.dumps({key: round(value, 1) for key, value in TIMINGS.items()}))


def test_https_healthz_answers_on_loopback_with_the_self_signed_certificate(dev: DevStack) -> None:
    status, headers, body = dev.https.get("/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    certificate = served_certificate(DOMAIN, LOOPBACK, dev.https.port)
    assert certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == DOMAIN
    assert headers["strict-transport-security"] == "max-age=63072000"


def test_readiness_sees_the_postgres_container(dev: DevStack) -> None:
    status, _, body = dev.https.get("/readyz")
    assert status == 200, body
    assert json.loads(body)["checks"]["database"] == "ok", body


def test_a_note_round_trips_through_the_api(dev: DevStack) -> None:
    status, _, body = dev.https.request(
        "POST", "/notes", body=b'{"text": "from the docker test"}', headers={"Content-Type": "application/json"}
    )
    assert status == 201, body
    status, _, body = dev.https.get("/notes")
    assert status == 200 and "from the docker test" in [note["text"] for note in json.loads(body)]


def test_http_redirects_to_the_published_https_port(dev: DevStack) -> None:
    status, headers, _ = http_get(LOOPBACK, f"{DOMAIN}:{dev.http_port}", "/notes?limit=1", port=dev.http_port)
    assert status == 301
    assert headers["location"] == f"https://{DOMAIN}:{dev.https.port}/notes?limit=1"


def test_ports_are_on_loopback_only_and_nothing_is_privileged(dev: DevStack) -> None:
    app = dev.engine.api.inspect_container(dev.app_container)
    bindings = [binding for published in app["NetworkSettings"]["Ports"].values() if published for binding in published]
    assert sorted(binding["HostPort"] for binding in bindings) == sorted([str(dev.https.port), str(dev.http_port)])
    assert {binding["HostIp"] for binding in bindings} == {LOOPBACK}
    assert app["HostConfig"]["Privileged"] is False
    database = dev.engine.api.inspect_container(dev.database_container)
    assert not any(database["NetworkSettings"]["Ports"].values())  # reachable on the network only
    assert database["HostConfig"]["Privileged"] is False


def test_the_seed_with_the_database_password_is_root_only(dev: DevStack) -> None:
    mode = dev.engine.docker("exec", dev.app_container, "stat", "-c", "%a %U", "/var/lib/cloud/seed/nocloud/user-data")
    assert mode.stdout.decode().split() == ["600", "root"]


def test_cloud_init_finished_and_no_unit_failed(dev: DevStack) -> None:
    status = dev.engine.docker("exec", dev.app_container, "cloud-init", "status", "--format", "json")
    assert json.loads(status.stdout)["errors"] == []
    failed = dev.engine.docker("exec", dev.app_container, "systemctl", "--failed", "--plain", "--no-legend")
    assert failed.stdout.decode().strip() == ""


def test_the_app_is_back_after_its_container_restarts(dev: DevStack) -> None:
    dev.engine.api.request("POST", f"/containers/{dev.app_container}/restart", query={"t": "30"}, timeout=120)
    restarted = time.monotonic()
    wait_for(lambda: _status(dev.https, "/healthz") == 200, timeout=180, interval=0.5, what="HTTPS 200 after the restart")
    TIMINGS["app container restart to HTTPS 200 (s)"] = time.monotonic() - restarted
    assert _status(dev.https, "/readyz") == 200


def test_readiness_follows_the_database_through_a_restart(dev: DevStack) -> None:
    dev.engine.api.request("POST", f"/containers/{dev.database_container}/stop", query={"t": "10"}, timeout=60)
    wait_for(lambda: _status(dev.https, "/readyz") == 503, timeout=60, interval=0.5, what="/readyz 503 with the database down")
    assert _status(dev.https, "/healthz") == 200  # liveness does not depend on the database
    dev.engine.api.request("POST", f"/containers/{dev.database_container}/start")
    wait_for(lambda: _status(dev.https, "/readyz") == 200, timeout=120, interval=0.5, what="/readyz 200 again, with no manual step")
