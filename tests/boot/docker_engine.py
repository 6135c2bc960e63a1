"""A Docker engine of the tests' own, its Engine API, and the local base images CI needs.

`DockerEngine` runs `dockerd` on its own socket, data root and exec root, with default
networking (port publishing is under test), and stops it by its PID. `EngineApi` speaks the
Engine API over that socket, as the Docker provider does. Docker Hub is out of reach here, so
`ensure_base_images` makes `debian:12` from the boot harness's cached root and a
`postgres:15-bookworm` stand-in from Debian's PostgreSQL (tests/boot/images/postgres); a
user's machine pulls the real ones, and nothing downstream treats them differently.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self
from urllib.parse import quote, urlencode

from fastapi_deploy.app_host.release import UnixHTTPConnection
from tests.boot.harness import CommandError, wait_for

__all__ = ["DockerEngine", "EngineApi", "EngineError", "ensure_base_images"]

IMAGES_DIR = Path(__file__).resolve().parent / "images"
# Pinned to what the mocks register: the dev stack's Postgres image name.
POSTGRES_IMAGE = "postgres:15-bookworm"
BASE_IMAGE = "debian:12"
# A label on the imported base: which cached root it came from, so a new root re-imports.
ROOT_LABEL = "org.fastapi-deploy.test-root"


class EngineError(Exception):
    """The Engine API answered with an error status."""


class EngineApi:
    """The few Engine API calls the replayer and the tests make (API 1.41, Docker 20.10)."""

    version = "v1.41"

    def __init__(self, socket_path: str) -> None:
        self.socket_path = socket_path

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: Any = None,
        raw: bytes | None = None,
        content_type: str = "application/json",
        timeout: float = 120,
        ok: tuple[int, ...] = (200, 201, 204, 304),
    ) -> Any:
        connection = UnixHTTPConnection(self.socket_path, timeout)
        target = f"/{self.version}{path}" + (f"?{urlencode(query)}" if query else "")
        payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        headers = {"Content-Type": content_type} if payload is not None else {}
        try:
            connection.request(method, target, body=payload, headers=headers)
            response = connection.getresponse()
            data = response.read()
        finally:
            connection.close()
        if response.status not in ok:
            raise EngineError(f"{method} {path}: {response.status} {data.decode(errors='replace').strip()}")
        if not data or not response.getheader("Content-Type", "").startswith("application/json"):
            return data
        return json.loads(data)

    def inspect_container(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.request("GET", f"/containers/{quote(name)}/json")
        return found

    def image_id(self, reference: str) -> str:
        return str(self.request("GET", f"/images/{quote(reference, safe='')}/json")["Id"])


class DockerEngine:
    """`dockerd` for the tests: own socket, data root, exec root and PID file. The data root
    outlives the run (image cache); containers, networks and volumes are the tests' to remove."""

    def __init__(
        self,
        data_root: Path = Path("/var/lib/fastapi-deploy-test-docker"),
        run_dir: Path = Path("/run/fastapi-deploy-test-docker"),
        log_file: Path | None = None,
    ) -> None:
        self.data_root = data_root
        self.run_dir = run_dir
        self.socket_path = str(run_dir / "docker.sock")
        self.pid_file = run_dir / "dockerd.pid"
        self.log_file = log_file or run_dir / "dockerd.log"
        self.api = EngineApi(self.socket_path)
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def cli(self) -> list[str]:
        docker = shutil.which("docker")
        if docker is None:
            raise FileNotFoundError("docker CLI not found: apt-get install docker.io")
        return [docker, "--host", f"unix://{self.socket_path}"]

    def docker(self, *args: str, input_bytes: bytes | None = None, timeout: float = 900) -> subprocess.CompletedProcess[bytes]:
        result = subprocess.run([*self.cli, *args], input=input_bytes, capture_output=True, timeout=timeout, check=False)
        if result.returncode != 0:
            raise CommandError(
                result.returncode, [*self.cli, *args], output=result.stdout.decode(errors="replace"), stderr=result.stderr.decode(errors="replace")
            )
        return result

    # Its own bridge for the default network: a system dockerd keeps docker0 to itself.
    bridge = "fdtest-docker0"
    bridge_address = "172.31.250.1/24"

    def _make_bridge(self) -> None:
        if not Path(f"/sys/class/net/{self.bridge}").exists():
            subprocess.run(["ip", "link", "add", "name", self.bridge, "type", "bridge"], check=True)
            subprocess.run(["ip", "addr", "add", self.bridge_address, "dev", self.bridge], check=True)
        subprocess.run(["ip", "link", "set", self.bridge, "up"], check=True)

    def start(self, timeout_seconds: float = 60) -> Self:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.data_root.mkdir(parents=True, exist_ok=True)
        self._stop_leftover()
        self._make_bridge()
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    "dockerd",
                    "--host", f"unix://{self.socket_path}",
                    "--data-root", str(self.data_root),
                    "--exec-root", str(self.run_dir / "exec"),
                    "--pidfile", str(self.pid_file),
                    "--bridge", self.bridge,
                    # Its own containerd state too, so a system dockerd is never touched.
                    "--containerd-namespace", "fastapi-deploy-test",
                    "--containerd-plugins-namespace", "fastapi-deploy-test-plugins",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip

        def ready() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"dockerd exited with {self._process.returncode}; see {self.log_file}")
            try:
                self.api.request("GET", "/_ping", timeout=2)
            except (OSError, EngineError):
                return False
            return True

        wait_for(ready, timeout=timeout_seconds, interval=0.3, what="dockerd answering on its socket")
        return self

    def _stop_leftover(self) -> None:
        """A dockerd of an earlier, killed run still holds the data root: stop it by its PID."""
        try:
            pid = int(self.pid_file.read_text().strip())
        except (OSError, ValueError):
            return
        self._signal_and_wait(pid)

    @staticmethod
    def _signal_and_wait(pid: int, timeout_seconds: float = 30) -> None:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout_seconds
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.2)
        os.kill(pid, signal.SIGKILL)

    def stop(self) -> None:
        if self._process is None:
            return
        # Our child: wait() reaps it (polling with kill(pid, 0) would see the zombie alive).
        self._process.terminate()
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait(timeout=30)
        self._process = None
        subprocess.run(["ip", "link", "del", self.bridge], check=False, capture_output=True)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def bridge_gateway(self) -> str:
        """The outer machine's address on the default bridge: reachable from every container."""
        network = self.api.request("GET", "/networks/bridge")
        return str(network["IPAM"]["Config"][0]["Gateway"])


def _tree_digest(directory: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(directory.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(directory).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _recipe_label(engine: DockerEngine, reference: str) -> str | None:
    """What the local image `reference` was made from (its ROOT_LABEL), or None if absent."""
    try:
        image = engine.api.request("GET", f"/images/{quote(reference, safe='')}/json")
    except EngineError as error:
        if " 404 " in str(error):
            return None
        raise
    label = (image["Config"]["Labels"] or {}).get(ROOT_LABEL)
    return str(label) if label is not None else None


def ensure_base_images(engine: DockerEngine, root: Path) -> dict[str, float]:
    """`debian:12` imported from the cached boot root, and the Postgres stand-in built on it;
    each only when missing or made from something else. Returns seconds spent on each."""
    spent: dict[str, float] = {}
    root_key = root.parent.name  # the cache directory's name carries the recipe's key
    current = _recipe_label(engine, BASE_IMAGE) == root_key
    if not current:
        started = time.monotonic()
        tar = subprocess.Popen(["tar", "-C", str(root), "--numeric-owner", "-c", "."], stdout=subprocess.PIPE)
        assert tar.stdout is not None
        imported = subprocess.run(
            [*engine.cli, "import", "--change", f"LABEL {ROOT_LABEL}={root_key}", "--change", 'CMD ["bash"]', "-", BASE_IMAGE],
            stdin=tar.stdout,
            capture_output=True,
            check=False,
            timeout=600,
        )
        tar.stdout.close()
        if tar.wait() != 0 or imported.returncode != 0:
            raise RuntimeError(f"importing {BASE_IMAGE} failed: {imported.stderr.decode(errors='replace')}")
        spent[f"import {BASE_IMAGE}"] = time.monotonic() - started
    context = IMAGES_DIR / "postgres"
    recipe = f"{root_key}-{_tree_digest(context)}"
    built = _recipe_label(engine, POSTGRES_IMAGE) == recipe
    if not built or not current:
        started = time.monotonic()
        engine.docker("build", "--label", f"{ROOT_LABEL}={recipe}", "--tag", POSTGRES_IMAGE, str(context))
        spent[f"build {POSTGRES_IMAGE} stand-in"] = time.monotonic() - started
    return spent
