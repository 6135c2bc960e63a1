"""Fixtures for boot tests: a cached Debian root, guests booted from it, host networks, and
the outer services guests talk to (Postgres, pebble, a wheel index). See README.md.

Every test in this directory gets the ``boot`` marker. Without root or the tools, the tests
are skipped; with CI=true they fail instead, so CI cannot silently skip them.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from collections.abc import Generator, Iterator, Sequence
from pathlib import Path

import pytest

from .docker_engine import DockerEngine
from .harness import (
    Guest,
    GuestFactory,
    HostNetwork,
    HostNetworkFactory,
    PackageIndex,
    PackageIndexFactory,
    PebbleAcme,
    PostgresServer,
    S3Server,
    SharedAddresses,
    build_base_rootfs,
)
from .host_parts import APP_PROJECT, BUILD_REQUIREMENTS, HELLO_PROJECT

BOOT_DIR = Path(__file__).resolve().parent
REPO_ROOT = BOOT_DIR.parents[1]
LOGS_DIR = BOOT_DIR / "_logs"
BOOT_TOOLS = ("systemd-nspawn", "debootstrap", "nsenter", "unshare", "ip", "mount", "journalctl")

_REPORTS = pytest.StashKey[dict[str, pytest.TestReport]]()
_FAILED_NODE_IDS = pytest.StashKey[set[str]]()
_LOG_DIRS = pytest.StashKey[list[Path]]()


# --------------------------------------------------------------------------- hooks


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "boot: boots a real Debian guest under systemd-nspawn (needs root)")
    config.stash[_FAILED_NODE_IDS] = set()
    config.stash[_LOG_DIRS] = []


# tryfirst: the marker must be on the items before "-m 'not boot'" deselects.
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if BOOT_DIR in item.path.parents:
            item.add_marker(pytest.mark.boot)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    # Keep each phase's report on the item: fixture teardown decides on it whether to
    # collect guest logs.
    report = yield
    item.stash.setdefault(_REPORTS, {})[report.when] = report
    if report.failed:
        item.config.stash[_FAILED_NODE_IDS].add(item.nodeid)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    log_dirs = terminalreporter.config.stash.get(_LOG_DIRS, [])
    if log_dirs:
        terminalreporter.section("boot test logs (failed tests)")
        for log_dir in log_dirs:
            terminalreporter.write_line(str(log_dir))


# --------------------------------------------------------------------------- environment


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def _require(problems: Sequence[str], needs: str) -> None:
    """Skip (locally) or fail (CI) when the machine cannot run these tests."""
    if not problems:
        return
    message = f"{needs}: " + "; ".join(problems)
    if _in_ci():
        pytest.fail(message + " (CI=true: failing instead of skipping)", pytrace=False)
    pytest.skip(message)


def _missing_tools(tools: Sequence[str]) -> list[str]:
    return [f"{tool} not found" for tool in tools if shutil.which(tool) is None]


@pytest.fixture(scope="session", autouse=True)
def _boot_environment() -> None:
    # Session-scoped so that it runs before the (expensive) session fixtures below.
    problems = [] if os.geteuid() == 0 else ["not running as root"]
    _require(problems + _missing_tools(BOOT_TOOLS), "boot tests need root and " + ", ".join(BOOT_TOOLS))


# --------------------------------------------------------------------------- services


@pytest.fixture(scope="session")
def base_rootfs() -> Path:
    """The cached Debian 12 root (built once, ~1-2 min; then instant)."""
    cache_dir = Path(os.environ.get("BOOT_CACHE_DIR") or REPO_ROOT / ".cache" / "boot")
    return build_base_rootfs(cache_dir)


@pytest.fixture(scope="session")
def pebble(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PebbleAcme]:
    """Pebble on https://127.0.0.1:14000/dir; its DNS answers 127.0.0.1 for every name."""
    _require(_missing_tools(("pebble", "pebble-challtestsrv", "openssl")), "the pebble fixture")
    with PebbleAcme(tmp_path_factory.mktemp("pebble")) as acme:
        yield acme


@pytest.fixture(scope="session")
def postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A throwaway cluster. It listens on all addresses so that guests in a HostNetwork
    reach it at their outer_address too; pg_hba admits only 127.0.0.1 and the harness's
    10.213.0.0/16, with SCRAM passwords."""
    server = PostgresServer(
        tmp_path_factory.mktemp("postgres"),
        listen_addresses=["*"],
        allowed_networks=["10.213.0.0/16"],
    )
    _require(_missing_tools([str(server.bin_dir / "initdb")]), "the postgres fixture")
    with server:
        yield server


@pytest.fixture(scope="session")
def package_index_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[PackageIndexFactory]:
    """Call with (requirements, local_projects, bind_addresses=...) to get a started
    PackageIndex holding those wheels; all are stopped at the end of the session."""
    indexes: list[PackageIndex] = []

    def make(
        requirements: Sequence[str] = (),
        local_projects: Sequence[Path] = (),
        *,
        bind_addresses: Sequence[str] = ("127.0.0.1",),
    ) -> PackageIndex:
        index = PackageIndex(tmp_path_factory.mktemp("package-index"), bind_addresses=bind_addresses)
        indexes.append(index.start())
        if requirements or local_projects:
            index.add_wheels_for(requirements, local_projects)
        return index

    yield make
    for index in indexes:
        index.stop()


# --------------------------------------------------------------------------- hosts


@pytest.fixture
def host_network_factory() -> Iterator[HostNetworkFactory]:
    """Call to open a HostNetwork (namespace + veth + /30); all are deleted afterwards."""
    networks: list[HostNetwork] = []

    def make() -> HostNetwork:
        network = HostNetwork().open()
        networks.append(network)
        return network

    yield make
    for network in networks:
        network.close()


class _GuestPool:
    """Creates guests for one test (or module) and tears them all down at the end."""

    def __init__(self, base_rootfs: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
        self.base_rootfs = base_rootfs
        self.tmp_path_factory = tmp_path_factory
        self.guests: list[Guest] = []

    def __call__(
        self,
        name: str,
        user_data: str,
        *,
        instance_id: str | None = None,
        network: HostNetwork | None = None,
        start: bool = True,
    ) -> Guest:
        guest = Guest(
            name,
            self.base_rootfs,
            self.tmp_path_factory.mktemp(f"guest-{name}"),
            user_data,
            instance_id or f"iid-{name}-{secrets.token_hex(4)}",
            network.namespace if network is not None else None,
        )
        self.guests.append(guest)
        if start:
            guest.start()
        return guest

    def close(self, config: pytest.Config, log_dir: Path | None) -> None:
        try:
            if log_dir is not None and self.guests:
                # Before stopping: a live guest still has its /run and a full journal.
                shutil.rmtree(log_dir, ignore_errors=True)
                for guest in self.guests:
                    guest.collect_logs(log_dir / guest.name)
                config.stash[_LOG_DIRS].append(log_dir)
                print(f"\nboot logs of the failed test: {log_dir}")
        finally:
            for guest in self.guests:
                guest.stop()


def _log_dir_for(name: str) -> Path:
    return LOGS_DIR / re.sub(r"[^\w.-]+", "_", name)


def _service_logs(request: pytest.FixtureRequest, log_dir: Path) -> None:
    """Copy the logs of the outer services the failed test used next to its guest logs."""
    for fixture_name in ("pebble", "postgres"):
        if fixture_name not in request.fixturenames:
            continue
        service = request.getfixturevalue(fixture_name)
        for log_file in service.log_files():
            target = log_dir / fixture_name / log_file.name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log_file, target)


@pytest.fixture
def guest_factory(
    request: pytest.FixtureRequest,
    base_rootfs: Path,
    tmp_path_factory: pytest.TempPathFactory,
    host_network_factory: HostNetworkFactory,  # torn down after the guests
) -> Iterator[GuestFactory]:
    """Call with (name, user_data, instance_id=None, network=None, start=True) to get a
    booted Guest. At teardown guests are stopped; if the test failed, their logs are
    copied to tests/boot/_logs/<test name>/<guest name>/ first."""
    pool = _GuestPool(base_rootfs, tmp_path_factory)
    yield pool
    reports = request.node.stash.get(_REPORTS, {})
    failed = any(report.failed for report in reports.values())
    log_dir = _log_dir_for(request.node.name) if failed else None
    pool.close(request.config, log_dir)
    if log_dir is not None:
        _service_logs(request, log_dir)


@pytest.fixture(scope="module")
def guest_factory_module(
    request: pytest.FixtureRequest,
    base_rootfs: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GuestFactory]:
    """Like guest_factory, for a guest shared by a module's tests; logs are collected when
    any test of the module failed."""
    pool = _GuestPool(base_rootfs, tmp_path_factory)
    yield pool
    module_id = request.node.nodeid
    failed_ids = request.config.stash[_FAILED_NODE_IDS]
    failed = any(node_id.startswith(module_id + "::") for node_id in failed_ids)
    log_dir = _log_dir_for(Path(module_id).stem) if failed else None
    pool.close(request.config, log_dir)


# --------------------------------------------------------------------------- the app


@pytest.fixture(scope="session")
def app_index(package_index_factory: PackageIndexFactory) -> PackageIndex:
    """An index with the server packages every host installs, the sample app's and the
    hello app's dependencies, and what pip needs to build a source archive; not the apps
    themselves: hosts get those from the store. It listens on all addresses so that guests
    in a HostNetwork reach it at their outer address (`url_for(network.outer_address)`)."""
    from fastapi_deploy.stack_model import SERVER_REQUIREMENTS

    index = package_index_factory(bind_addresses=("0.0.0.0",))
    index.add_wheels_for([*SERVER_REQUIREMENTS, *BUILD_REQUIREMENTS], [APP_PROJECT, HELLO_PROJECT], index_local_projects=False)
    return index


@pytest.fixture(scope="session")
def shared_addresses() -> Iterator[SharedAddresses]:
    """The services' and the load balancer's addresses every HostNetwork guest reaches."""
    with SharedAddresses() as addresses:
        yield addresses


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    """The bucket's stand-in, on all addresses (guests in a HostNetwork reach it at their
    outer address)."""
    with S3Server(bind_address="0.0.0.0") as server:
        yield server





# --------------------------------------------------------------------------- docker


@pytest.fixture(scope="session")
def docker_engine() -> Iterator[DockerEngine]:
    """dockerd of the tests' own (socket under /run/fastapi-deploy-test-docker), stopped by
    its PID at the end of the session; its data root keeps built images between runs."""
    _require(_missing_tools(("dockerd", "docker", "iptables")), "the docker tests (apt-get install docker.io iptables)")
    with DockerEngine() as engine:
        yield engine


def module_failed(request: pytest.FixtureRequest) -> Path | None:
    """The log directory for this module if any of its tests failed, else None."""
    module_id = request.node.nodeid
    failed = any(node_id.startswith(module_id + "::") for node_id in request.config.stash[_FAILED_NODE_IDS])
    if not failed:
        return None
    log_dir = _log_dir_for(Path(module_id).stem)
    request.config.stash[_LOG_DIRS].append(log_dir)
    return log_dir
