"""The library as users install it: one import root, the host tooling and the renderer's
static files inside the wheel, and no packaging warnings."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_the_library_under_one_name_without_warnings(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(REPO)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "is absent from the `packages`" not in output and "Package would be ignored" not in output
    (wheel,) = tmp_path.glob("fastapi_deploy-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    roots = {name.split("/", 1)[0] for name in names if not name.split("/", 1)[0].endswith(".dist-info")}
    assert roots == {"fastapi_deploy"}
    for expected in (
        "fastapi_deploy/components/app_fleet.py",
        "fastapi_deploy/cloud_init/render.py",
        "fastapi_deploy/cloud_init/files/fetch_tooling.py",
        "fastapi_deploy/stack_model/volcengine_rules.py",
        "fastapi_deploy/app_host/cli.py",
        "fastapi_deploy/app_host/worker.py",
        "fastapi_deploy/testing.py",
        "fastapi_deploy/plan.py",
    ):
        assert expected in names, expected
