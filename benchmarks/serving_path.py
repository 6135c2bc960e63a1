"""Benchmark: the serving path of an app host against the seed's recipe, in one run.

Boots two Debian 12 guests (systemd-nspawn, cloud-init), each in its own network namespace,
serving the same trivial FastAPI app (tests/fixtures/hello-app, `GET /`) over HTTPS:

- ours: the rendered user data (Nginx with upstream keepalive to gunicorn's Unix socket,
  uvicorn workers on uvloop + httptools, one access log: Nginx's, in the journal);
- the seed's recipe: gunicorn `-w 4 -k uvicorn.workers.UvicornWorker --bind 127.0.0.1:8000`
  with `uvicorn[standard]`, Nginx `proxy_pass http://127.0.0.1:8000` without upstream
  keepalive, a self-signed P-256 certificate standing in for Certbot's (TLS 1.2/1.3),
  gunicorn's access log on as in its tutorials.

Then each deploys a new version under the same load: ours a release (a new record in the
store; the host installs it into its idle slot and switches, app_host.release), the seed's
recipe `systemctl restart` after changing its code. Printed: requests/s, p99 and failed
requests over the whole window, from the moment the new version is published until it answers
(plus 2 s).

wrk runs on the outer machine, `-t2 -c32` for `--seconds`, against each guest's address with
the domain resolved to it; both guests get the same vCPU and memory (the whole machine: on
2 cores wrk competes with the guest, equally for both). Prints requests/s and p99 latency
end to end, and for the seed its app alone (wrk inside the guest's namespace to 127.0.0.1:8000;
ours listens on a Unix socket only, which wrk cannot reach). Needs root; not part of the tests.

    sudo .venv/bin/python benchmarks/serving_path.py [--seconds 15] [--runs 3]
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi_deploy.artifacts import project_artifact  # noqa: E402
from fastapi_deploy.cloud_init import render_user_data  # noqa: E402
from fastapi_deploy.stack_model import (  # noqa: E402
    SERVER_REQUIREMENTS,
    AppHostSpec,
    AppSpec,
    Capacity,
    SelfSignedCertificates,
)
from tests.boot.harness import (  # noqa: E402
    BASE_PACKAGES,
    Guest,
    HostNetwork,
    PackageIndex,
    PostgresServer,
    S3Server,
    build_base_rootfs,
    hosts_entry,
    wait_for,
)
from tests.boot.host_parts import BUILD_REQUIREMENTS, HELLO_PROJECT, publish_for_hosts, publish_release  # noqa: E402

DOMAIN = "bench.example.test"
SEED_REQUIREMENTS = ("gunicorn==27.0.1", "uvicorn[standard]", "fastapi")


@dataclass
class Result:
    requests_per_second: float
    p99_ms: float
    errors: int


def _wrk(argv_prefix: list[str], url: str, seconds: int) -> Result:
    out = subprocess.run(
        [*argv_prefix, "wrk", "-t2", "-c32", f"-d{seconds}s", "--latency", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    return _parse(out)


def _during(url: str, deploy: Callable[[], None], deployed: Callable[[], bool]) -> Result:
    """wrk (10 s timeout) from `deploy()` until `deployed()` holds, plus 2 s."""
    load = subprocess.Popen(
        ["wrk", "-t2", "-c32", "-d600s", "--timeout=10s", "--latency", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        time.sleep(2)
        deploy()
        wait_for(deployed, timeout=400, interval=0.5, what="the new version answering")
        time.sleep(2)
    finally:
        load.send_signal(signal.SIGINT)
        out = load.communicate(timeout=60)[0]
    return _parse(out)


def _hello_version(root: Path, version: str) -> Path:
    """The hello app answering `version` too, so a deploy can be told apart."""
    project = root / f"hello-{version}" / "hello-app"
    shutil.copytree(HELLO_PROJECT, project, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    module = project / "hello_app" / "__init__.py"
    module.write_text(module.read_text().replace('return {"hello": "world"}', f'return {{"hello": "world", "version": "{version}"}}'))
    return project


def _release(s3: S3Server, spec: AppHostSpec, root: Path, version: str) -> Callable[[], None]:
    """Ours: the new version's archive into the bucket, then its release record."""
    artifact = project_artifact(_hello_version(root, version))
    s3.put("bench", artifact.ref.key, artifact.path.read_bytes())
    new = spec.model_copy(update={"app": spec.app.model_copy(update={"package": artifact.ref})})
    return lambda: print(f"released {publish_release(s3, new).id}")


def _restart(guest: Guest, version: str) -> Callable[[], None]:
    """The seed's recipe: edit the code, `systemctl restart`."""

    def deploy() -> None:
        guest.exec(["sed", "-i", f"s/return .*/return {{'hello': 'world', 'version': '{version}'}}/", "/opt/seed/main.py"])
        guest.exec(["systemctl", "restart", "seed.service"])

    return deploy


def _answers(address: str, version: str) -> Callable[[], bool]:
    return lambda: f'"{version}"'.encode() in _answer(address)


def _parse(out: str) -> Result:
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    value, unit = re.search(r"99%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    p99 = float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = (sum(int(group) for group in errors.groups()) if errors else 0) + (int(non_2xx.group(1)) if non_2xx else 0)
    return Result(rate, p99, failed)


def _seed_user_data(index_url: str, index_host: str) -> str:
    """The seed's recipe as cloud-config: the same app, installed from the same index."""
    app = "from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get('/')\nasync def hello():\n    return {'hello': 'world'}\n"
    unit = (
        "[Unit]\nDescription=seed app\nAfter=network.target\n\n[Service]\nUser=www-data\n"
        "WorkingDirectory=/opt/seed\nExecStart=/opt/seed/venv/bin/gunicorn -w 4 -k uvicorn.workers.UvicornWorker "
        "--bind 127.0.0.1:8000 --access-logfile - main:app\nRestart=always\n\n[Install]\nWantedBy=multi-user.target\n"
    )
    site = (
        "server {\n    listen 80;\n    server_name " + DOMAIN + ";\n    return 301 https://$host$request_uri;\n}\n"
        "server {\n    listen 443 ssl;\n    server_name " + DOMAIN + ";\n"
        "    ssl_certificate /etc/ssl/seed.pem;\n"
        "    ssl_certificate_key /etc/ssl/seed.key;\n"
        "    ssl_protocols TLSv1.2 TLSv1.3;\n"
        "    location / {\n        proxy_pass http://127.0.0.1:8000;\n        proxy_set_header Host $host;\n"
        "        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n    }\n}\n"
    )
    pip = f"/opt/seed/venv/bin/pip install --index-url {index_url} --trusted-host {index_host} " + " ".join(
        f"'{requirement}'" for requirement in SEED_REQUIREMENTS
    )
    import yaml

    document = {
        "packages": ["nginx", "python3-venv", "openssl"],
        "package_update": False,
        "write_files": [
            {"path": "/opt/seed/main.py", "content": app},
            {"path": "/etc/systemd/system/seed.service", "content": unit},
            {"path": "/etc/nginx/sites-available/seed", "content": site},
        ],
        "runcmd": [
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                "-days", "2", "-subj", f"/CN={DOMAIN}", "-keyout", "/etc/ssl/seed.key", "-out", "/etc/ssl/seed.pem",
            ],
            ["python3", "-m", "venv", "/opt/seed/venv"],
            ["sh", "-c", pip],
            ["ln", "-sf", "/etc/nginx/sites-available/seed", "/etc/nginx/sites-enabled/seed"],
            ["rm", "-f", "/etc/nginx/sites-enabled/default"],
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "seed.service"],
            ["systemctl", "reload-or-restart", "nginx"],
        ],
    }
    return "#cloud-config\n" + yaml.safe_dump(document, sort_keys=False)


def _get(address: str, port: int = 443) -> tuple[int, bytes]:
    """`GET /` of the guest over HTTPS (certificate not checked); (0, b"") without an answer."""
    import http.client
    import socket
    import ssl

    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((address, port), 5) as raw, context.wrap_socket(raw, server_hostname=DOMAIN) as tls:
            connection = http.client.HTTPConnection(DOMAIN)
            connection.sock = tls
            connection.request("GET", "/", headers={"Host": DOMAIN})
            response = connection.getresponse()
            return response.status, response.read()
    except OSError:
        return 0, b""


def _answer(address: str, port: int = 443) -> bytes:
    status, body = _get(address, port)
    return body if status == 200 else b""


def _serving(address: str, port: int = 443) -> bool:
    return _get(address, port)[0] == 200


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=15, help="length of each wrk run (default 15)")
    parser.add_argument("--runs", type=int, default=3, help="wrk runs per target (default 3)")
    parser.add_argument("--deploys", type=int, default=2, help="deploys under load per target (default 2)")
    args = parser.parse_args()
    rootfs = build_base_rootfs(REPO / ".cache" / "boot", base_packages=BASE_PACKAGES)
    results: dict[str, list[Result]] = {}
    with tempfile.TemporaryDirectory(prefix="serving-path-bench-") as scratch:
        root = Path(scratch)
        with (
            PostgresServer(root / "pg", listen_addresses=["*"], allowed_networks=["10.213.0.0/16"]) as postgres,
            PackageIndex(root / "index", bind_addresses=("0.0.0.0",)) as index,
            S3Server(bind_address="0.0.0.0") as s3,
        ):
            index.add_wheels_for([*SERVER_REQUIREMENTS, *BUILD_REQUIREMENTS, *SEED_REQUIREMENTS], [HELLO_PROJECT], index_local_projects=False)
            for label in ("ours", "seed recipe"):
                network = HostNetwork().open()
                guest = None
                try:
                    outer = network.outer_address
                    if label == "ours":
                        spec = AppHostSpec(
                            domains=(DOMAIN,),
                            certificates=SelfSignedCertificates(),
                            app=AppSpec(
                                package=project_artifact(HELLO_PROJECT).ref,
                                asgi_path="hello_app:app",
                                readiness_path="/",
                                package_index_url=index.url_for(outer),
                            ),
                            store=publish_for_hosts(s3, "bench", outer, app_project=HELLO_PROJECT),
                            capacity=Capacity(vcpus=2, memory_mib=4096),
                            database_url=postgres.create_database("bench", "bench", secrets.token_urlsafe(12), host=outer),
                            refresh_package_index=False,
                        )
                        publish_release(s3, spec)
                        user_data = render_user_data(spec).cloud_config
                    else:
                        user_data = _seed_user_data(index.url_for(outer), outer)
                    work = root / label.replace(" ", "-")
                    work.mkdir()
                    guest = Guest(
                        f"serve{secrets.token_hex(2)}", rootfs, work, user_data, f"i-{secrets.token_hex(4)}", network.namespace
                    )
                    guest.start()
                    address = network.guest_address
                    wait_for(lambda: _serving(address), timeout=600, interval=0.5, what=f"{label}: HTTPS 200")  # noqa: B023 - used at once
                    with hosts_entry(DOMAIN, network.guest_address):
                        _wrk([], f"https://{DOMAIN}/", 3)  # warm-up: workers imported, caches filled
                        results[f"{label}: end to end (HTTPS, Nginx)"] = [_wrk([], f"https://{DOMAIN}/", args.seconds) for _ in range(args.runs)]
                    if label == "seed recipe":
                        inside = ["ip", "netns", "exec", network.namespace]
                        results[f"{label}: app alone (127.0.0.1:8000)"] = [
                            _wrk(inside, "http://127.0.0.1:8000/", args.seconds) for _ in range(args.runs)
                        ]
                    # A new version under load: a release (ours), `systemctl restart` (the seed's).
                    deploys: list[Result] = []
                    for number in range(1, args.deploys + 1):
                        version = f"2.{number}"
                        deploy = _release(s3, spec, root, version) if label == "ours" else _restart(guest, version)
                        with hosts_entry(DOMAIN, network.guest_address):
                            deploys.append(_during(f"https://{DOMAIN}/", deploy, _answers(address, version)))
                    results[f"{label}: during a deploy (whole window)"] = deploys
                finally:
                    if guest is not None:
                        guest.stop()
                    network.close()
    print(f"{'target':44} {'req/s (median)':>15} {'p99 ms (median)':>16} {'failed':>7}")
    for label, runs in results.items():
        print(
            f"{label:44} {statistics.median(run.requests_per_second for run in runs):>15.0f} "
            f"{statistics.median(run.p99_ms for run in runs):>16.1f} {sum(run.errors for run in runs):>7}"
        )
    ours = statistics.median(run.requests_per_second for run in results["ours: end to end (HTTPS, Nginx)"])
    seed = statistics.median(run.requests_per_second for run in results["seed recipe: end to end (HTTPS, Nginx)"])
    print(f"end to end, ours / seed recipe: {ours / seed:.2f}x")


if __name__ == "__main__":
    main()
