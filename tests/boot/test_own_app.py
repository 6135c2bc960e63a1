"""Deploying your own app, as the README's steps do it, as far as this machine allows.

1. Build the app's wheel (`python -m build --wheel`), here the hello app of tests/fixtures:
   no database schema, no migrations, readiness on '/'.
2. Point the dev stack at it (appPackage, appAsgiPath, appMigrationCommand 'none',
   appReadinessPath) and run the program, under mocks here.
3. Boot a host from exactly what the program registered: the user data the dev container
   gets, and the files its store receives (the host tooling and the wheel), placed where the
   container's uploads put them. Then ask it over HTTPS, as a client.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from fastapi_deploy.app_host.release import ReleaseRecord, record_key
from tests.boot.harness import GuestFactory, PackageIndex, wait_for
from tests.boot.host_parts import HELLO_PROJECT
from tests.boot.probes import PinnedHttps
from tests.mocks.harness import run_main, written_files

pytestmark = pytest.mark.boot


def test_your_own_app_from_a_wheel_serves_over_https(
    guest_factory: GuestFactory, app_index: PackageIndex, tmp_path: Path
) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path / "dist"), str(HELLO_PROJECT)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("hello_app-1.0.0-*.whl")

    run = run_main(
        "dev",
        {
            "appPackage": str(wheel),
            "appAsgiPath": "hello_app:app",
            "appMigrationCommand": "none",
            "appReadinessPath": "/",
            # The machine's own index stands in for PyPI (the wheel's dependencies).
            "appPackageIndexUrl": app_index.url_for("127.0.0.1"),
        },
    )
    container = run.named("dev-app-host-container")
    uploads = {upload["file"]: upload for upload in container.inputs["uploads"]}
    files = written_files(container)
    record = ReleaseRecord.from_json(uploads[f"/var/lib/app-host/store/{record_key('api')}"]["content"].encode())
    assert record.artifact_key.endswith(f"/{wheel.name}") and record.label == "hello-app@1.0.0"
    assert "/etc/systemd/system/api-migrate@.service" not in files

    guest = guest_factory("ownapp", uploads["/var/lib/cloud/seed/nocloud/user-data"]["content"], start=False)
    for path, upload in uploads.items():
        if path.startswith("/var/lib/app-host/store/"):
            guest.place_file(path, Path(upload["source"]).read_bytes() if "source" in upload else upload["content"].encode())
    guest.start()

    client = PinnedHttps("api.dev.test", "127.0.0.1", None)

    def serving() -> bool:
        try:
            return client.get("/")[0] == 200
        except OSError:
            return False

    wait_for(serving, timeout=300, interval=1, what="HTTPS 200 from the hello app")
    status, _, body = client.get("/")
    assert (status, json.loads(body)) == (200, {"hello": "world"})
    assert guest.wait_for_cloud_init(120)["v1"]["errors"] == []
    assert guest.failed_units() == []
    # The wheel the host runs is the one that was built: pip installed it from the store's copy.
    installed = guest.exec(["/opt/api/blue/venv/bin/pip", "show", "hello-app"]).stdout
    assert "Version: 1.0.0" in installed
