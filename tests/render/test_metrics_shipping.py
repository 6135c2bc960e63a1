"""The hosts' metrics leave them, with the real tools: Debian's mtail and node exporter serve
what the tooling configures, Debian's Prometheus runs as the agent from the tooling's own
settings and remote-writes, with the password from its file, to a real Prometheus that
stands in for the managed workspace.

Only ports and paths are moved (into the test's directory, onto free loopback ports) and the
scrape interval is shortened; every flag and every other setting is the tooling's.
"""

from __future__ import annotations

import datetime
import json
import secrets
import shlex
import shutil
import subprocess
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fastapi_deploy.app_host import metrics
from fastapi_deploy.app_host.config import MetricsConfig
from fastapi_deploy.app_host.host_files import MTAIL_PROGRAM
from tests.boot.harness import free_port, wait_for
from tests.prometheus_receiver import PrometheusReceiver

HOST = "i-test-host"
APP = "api"
NODE_EXPORTER = "/usr/bin/prometheus-node-exporter"

pytestmark = pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("prometheus", "prometheus-node-exporter", "mtail")),
    reason="needs Debian's prometheus, prometheus-node-exporter and mtail (.ci/run installs them)",
)


def _args(defaults: str) -> list[str]:
    """The ARGS line of a Debian defaults file, as systemd's $ARGS splits it."""
    line = next(line for line in defaults.splitlines() if line.startswith("ARGS="))
    return shlex.split(shlex.split(line.removeprefix("ARGS="))[0])


def _moved(args: list[str], replacements: dict[str, str]) -> list[str]:
    moved = []
    for arg in args:
        flag = arg.split("=", 1)[0]
        moved.append(f"{flag}={replacements[flag]}" if flag in replacements else arg)
    return moved


def _wait(check: Callable[[], bool], seconds: float, logs: Callable[[], str]) -> None:
    """wait_for, failing with the tools' own logs."""
    try:
        wait_for(check, seconds, interval=0.25)
    except TimeoutError as error:
        raise AssertionError(f"{error}: {logs()}") from error


class Shipping:
    """mtail, the node exporter and the agent as the host runs them, under `workdir`."""

    def __init__(self, workdir: Path, receiver: PrometheusReceiver, password: str) -> None:
        self.workdir = workdir
        workdir.mkdir()
        self.stream = workdir / "metrics.stream"
        self.stream.touch()
        self.textfiles = workdir / "textfiles"
        self.textfiles.mkdir()
        programs = workdir / "progs"
        programs.mkdir()
        (programs / "nginx.mtail").write_text(MTAIL_PROGRAM)
        self.ports = {"nginx": free_port(), "node": free_port(), "agent": free_port()}
        self.logs: dict[str, Path] = {}
        self.processes = [
            self._start("mtail", ["mtail", "--progs", str(programs), "--logtostderr", "--address", "127.0.0.1",
                                  "--port", str(self.ports["nginx"]), "--logs", str(self.stream)]),
            self._start("node", [NODE_EXPORTER, *_moved(_args(metrics.NODE_EXPORTER_DEFAULTS), {
                "--web.listen-address": f"127.0.0.1:{self.ports['node']}",
                "--collector.textfile.directory": str(self.textfiles),
            })]),
        ]  # fmt: skip
        # The agent's own file, as start_shipping writes it, with the targets moved.
        config = json.loads(
            metrics.agent_config(HOST, APP, MetricsConfig(receiver.write_url, receiver.username, password)).split("\n", 1)[1]
        )
        assert config["remote_write"][0]["basic_auth"]["password_file"] == str(metrics.PASSWORD_FILE)
        password_file = workdir / "remote-write.password"
        password_file.write_text(password)
        config["remote_write"][0]["basic_auth"]["password_file"] = str(password_file)
        config["global"]["scrape_interval"] = "1s"
        for job in config["scrape_configs"]:
            job["static_configs"][0]["targets"] = [f"127.0.0.1:{self.ports[job['job_name']]}"]
        agent_file = workdir / "agent.yml"
        agent_file.write_text(json.dumps(config))
        self.processes.append(
            self._start("agent", ["prometheus", *_moved(_args(metrics.PROMETHEUS_DEFAULTS), {
                "--config.file": str(agent_file),
                "--storage.agent.path": str(workdir / "agent-wal"),
                "--web.listen-address": f"127.0.0.1:{self.ports['agent']}",
            })])
        )  # fmt: skip
        # mtail reads a file it finds at start from its end: lines go in once it tails.
        _wait(lambda: bool(urllib.request.urlopen(f"http://127.0.0.1:{self.ports['nginx']}/metrics", timeout=1)), 20, lambda: self.log("mtail"))

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        self.logs[name] = self.workdir / f"{name}.log"
        return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=self.logs[name].open("wb"))

    def log(self, name: str) -> str:
        return self.logs[name].read_text()[-1500:]

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


@pytest.fixture
def receiver(tmp_path: Path) -> Iterator[PrometheusReceiver]:
    server = PrometheusReceiver(tmp_path / "receiver", "127.0.0.1", free_port(), "hosts", secrets.token_urlsafe(18))
    yield server
    server.stop()


def test_the_defaults_keep_every_listener_on_loopback() -> None:
    agent = dict(arg.split("=", 1) for arg in _args(metrics.PROMETHEUS_DEFAULTS) if "=" in arg)
    node = dict(arg.split("=", 1) for arg in _args(metrics.NODE_EXPORTER_DEFAULTS) if "=" in arg)
    assert agent["--web.listen-address"].startswith("127.0.0.1:")
    assert node["--web.listen-address"].startswith("127.0.0.1:")
    assert agent["--enable-feature"] == "agent"


def test_request_disk_and_backup_numbers_reach_the_workspace_with_the_hosts_labels(
    tmp_path: Path, receiver: PrometheusReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipping = Shipping(tmp_path / "host", receiver, receiver.password)
    try:
        # The backup run's facts as the tooling writes them, read by the real node exporter.
        monkeypatch.setattr(metrics, "TEXTFILE_DIR", shipping.textfiles)
        dumped = datetime.datetime(2026, 11, 20, 3, 4, 5, tzinfo=datetime.UTC)
        ran = datetime.datetime(2026, 11, 26, 3, 10, 0, tzinfo=datetime.UTC)
        assert metrics.backup_status(True, dumped.isoformat(), ran)
        requests = ["200 0.004", "200 0.020", "503 1.200", "404 0.001", "200 0.300"]
        with shipping.stream.open("a") as stream:
            stream.write("".join(f"{line}\n" for line in requests))
        labels = f'host="{HOST}",app="{APP}"'

        def arrived() -> bool:
            return receiver.value(f'sum(nginx_requests_total{{{labels}}})') == len(requests)

        _wait(arrived, 60, lambda: f"the requests never arrived: {shipping.log('agent')}")
        assert receiver.value(f'nginx_requests_total{{{labels},status_class="5xx"}}') == 1
        assert receiver.value(f'nginx_request_seconds_bucket{{{labels},le="1"}}') == 4
        _wait(lambda: receiver.value(f"app_backup_last_run_success{{{labels}}}") is not None, 30, lambda: shipping.log("node"))
        assert receiver.value(f"app_backup_last_run_success{{{labels}}}") == 1
        assert receiver.value(f"app_backup_newest_dump_timestamp_seconds{{{labels}}}") == 1795143845
        assert receiver.value(f"app_backup_last_run_timestamp_seconds{{{labels}}}") == 1795662600
        free = receiver.value(f'node_filesystem_avail_bytes{{{labels},mountpoint="/"}}')
        assert free is not None and free > 0
        # The exporters are scraped as jobs of their own, so a dead one shows as up == 0.
        assert {series["metric"]["job"] for series in receiver.query(f"up{{{labels}}}")} == {"nginx", "node"}

        # A failed run later: the outcome flips, the newest dump stays what it was.
        assert metrics.backup_status(False, None, ran + datetime.timedelta(days=1))
        _wait(lambda: receiver.value(f"app_backup_last_run_success{{{labels}}}") == 0, 30, lambda: shipping.log("node"))
        assert receiver.value(f"app_backup_newest_dump_timestamp_seconds{{{labels}}}") == 1795143845
    finally:
        shipping.stop()


def test_a_wrong_password_gets_nothing_in(tmp_path: Path, receiver: PrometheusReceiver) -> None:
    shipping = Shipping(tmp_path / "host", receiver, receiver.password + "x")
    try:
        shipping.stream.write_text("200 0.004\n")
        _wait(lambda: "401" in shipping.log("agent"), 60, lambda: f"the agent never tried: {shipping.log('agent')}")
        assert receiver.query("up") == []
    finally:
        shipping.stop()
