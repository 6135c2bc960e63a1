"""The hosts' request metrics with the real tools: Debian's mtail runs the program the tooling
installs, and the real Nginx writes the stream the tooling's nginx.conf declares.

Expected values are counted here from the requests made, not read from the program."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from fastapi_deploy.app_host.host_files import MTAIL_DEFAULTS, MTAIL_PROGRAM, NGINX_CONF
from tests.boot.harness import free_port
from tests.boot.probes import prometheus_series

MTAIL = shutil.which("mtail") or "mtail"
BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


def test_the_program_counts_status_classes_and_buckets_latency(tmp_path: Path) -> None:
    programs = tmp_path / "progs"
    programs.mkdir()
    (programs / "nginx.mtail").write_text(MTAIL_PROGRAM)
    requests = [(200, 0.003), (200, 0.040), (301, 0.001), (404, 0.002), (502, 0.000), (503, 1.700), (200, 12.5)]
    log = tmp_path / "stream.log"
    # As Nginx writes the stream: the format's two fields.
    log.write_text("".join(f"{status} {seconds:.3f}\n" for status, seconds in requests))
    out = subprocess.run(
        [MTAIL, "--one_shot", "--one_shot_format", "prometheus", "--progs", str(programs), "--logs", str(log), "--logtostderr"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    values = prometheus_series(out)
    for status_class in ("2xx", "3xx", "4xx", "5xx"):
        expected = sum(1 for status, _ in requests if f"{status // 100}xx" == status_class)
        assert values.get(f'nginx_requests_total{{status_class="{status_class}"}}', 0) == expected, status_class
    for bound in BUCKETS:
        expected = sum(1 for _, seconds in requests if seconds <= bound)
        assert values[f'nginx_request_seconds_bucket{{le="{bound:g}"}}'] == expected, bound
    # A consistent histogram: every request in +Inf, the sub-millisecond one included.
    assert values['nginx_request_seconds_bucket{le="+Inf"}'] == values["nginx_request_seconds_count"] == len(requests)


@pytest.fixture
def mtail_live(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """mtail as the host runs it (the defaults file's loopback address), tailing a stream file
    under `tmp_path` instead of /var/log/nginx."""
    programs = tmp_path / "progs"
    programs.mkdir()
    (programs / "nginx.mtail").write_text(MTAIL_PROGRAM)
    settings = dict(line.split("=", 1) for line in MTAIL_DEFAULTS.splitlines() if "=" in line and not line.startswith("#"))
    assert settings["HOST"] == "127.0.0.1" and settings["LOGS"] == "/var/log/nginx/metrics.stream"
    stream = tmp_path / "metrics.stream"
    stream.touch()
    port = free_port()
    process = subprocess.Popen(
        [MTAIL, "--progs", str(programs), "--logtostderr", "--address", settings["HOST"], "--port", str(port), "--logs", str(stream)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1)
                break
            except OSError:
                assert time.monotonic() < deadline, "mtail never answered"
                time.sleep(0.05)
        yield stream, port
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_nginx_writes_mtail_one_line_per_request(tmp_path: Path, mtail_live: tuple[Path, int]) -> None:
    """The two lines of the tooling's nginx.conf that make the stream, in a minimal server, the
    file moved under `tmp_path`; the buffer is flushed within its second."""
    stream, metrics_port = mtail_live
    lines = [line.strip() for line in NGINX_CONF.splitlines() if "metrics" in line and not line.strip().startswith("#")]
    assert len(lines) == 2 and lines[0].startswith("log_format metrics")
    port = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\nevents {{}}\nhttp {{\n"
        f"    {lines[0]}\n    {lines[1].replace('/var/log/nginx/metrics.stream', str(stream))}\n"
        f"    server {{ listen 127.0.0.1:{port}; location / {{ return 200 ok; }} location /down {{ return 502; }} }}\n}}\n"
    )
    subprocess.run(["nginx", "-c", str(conf), "-p", str(tmp_path), "-e", f"{tmp_path}/error.log"], check=True, timeout=30)
    try:
        codes = []
        for path in ["/"] * 6 + ["/down"] * 3:
            try:
                codes.append(urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5).status)
            except urllib.error.HTTPError as error:
                codes.append(error.code)
        expected = {f"{code // 100}xx": codes.count(code) for code in set(codes)}
        deadline = time.monotonic() + 10
        while True:
            page = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
            values = prometheus_series(page)
            seen = {key: values.get(f'nginx_requests_total{{status_class="{key}"}}', 0) for key in expected}
            if seen == expected or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        assert seen == expected == {"2xx": 6, "5xx": 3}, (seen, (tmp_path / "error.log").read_text()[-500:])
    finally:
        subprocess.run(["nginx", "-c", str(conf), "-p", str(tmp_path), "-s", "stop"], check=False, timeout=30)
