"""A real Prometheus server (Debian's) standing in for the managed workspace the hosts write
to: it accepts remote writes behind basic auth and answers PromQL, so a test can see what
arrived and with which labels."""

from __future__ import annotations

import base64
import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import bcrypt

from tests.boot.harness import WaitAborted, wait_for

__all__ = ["PrometheusReceiver"]

PROMETHEUS = "/usr/bin/prometheus"


class PrometheusReceiver:
    """`prometheus --web.enable-remote-write-receiver` on `address:port`, one user allowed."""

    def __init__(self, workdir: Path, address: str, port: int, username: str, password: str) -> None:
        self.address, self.port = address, port
        self.username, self.password = username, password
        workdir.mkdir(parents=True, exist_ok=True)
        hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
        web = workdir / "web.yml"
        web.write_text(json.dumps({"basic_auth_users": {username: hashed}}))
        config = workdir / "prometheus.yml"
        config.write_text("global: {}\n")
        self.log = workdir / "receiver.log"
        self._process = subprocess.Popen(
            [PROMETHEUS, f"--config.file={config}", f"--storage.tsdb.path={workdir / 'data'}",
             f"--web.listen-address={address}:{port}", f"--web.config.file={web}",
             "--web.enable-remote-write-receiver"],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )  # fmt: skip
        wait_for(self._ready, 30, interval=0.1, what="the receiver to answer")

    def _ready(self) -> bool:
        if self._process.poll() is not None:
            raise WaitAborted(f"the receiver exited: {self.log.read_text()[-800:]}")
        return bool(self.query("vector(1)"))

    @property
    def write_url(self) -> str:
        return f"http://{self.address}:{self.port}/api/v1/write"

    def query(self, expression: str) -> list[dict[str, Any]]:
        """The instant vector `expression` evaluates to: [{"metric": labels, "value": [t, v]}]."""
        url = f"http://{self.address}:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expression})
        request = urllib.request.Request(url)
        login = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        request.add_header("Authorization", f"Basic {login}")
        with urllib.request.urlopen(request, timeout=10) as response:
            body = json.loads(response.read())
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def value(self, expression: str) -> float | None:
        """The single value `expression` gives, or None when it gives nothing."""
        result = self.query(expression)
        return float(result[0]["value"][1]) if result else None

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=20)
