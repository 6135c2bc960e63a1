"""The GitHub workflows pass actionlint (which also runs shellcheck on their run: steps)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ACTIONLINT = Path(sys.executable).parent / "actionlint"


@pytest.fixture
def actionlint() -> Path:
    if not ACTIONLINT.exists():
        if os.environ.get("CI") == "true":
            pytest.fail("actionlint is missing; .ci/run installs it from requirements-lint.txt")
        pytest.skip("actionlint is not installed (pip install --require-hashes -r requirements-lint.txt)")
    return ACTIONLINT


def test_the_workflows_pass_actionlint(actionlint: Path) -> None:
    result = subprocess.run([str(actionlint)], cwd=REPO, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_actionlint_is_live(actionlint: Path, tmp_path: Path) -> None:
    shutil.copytree(REPO / ".github", tmp_path / ".github")
    workflow = tmp_path / ".github" / "workflows" / "ci.yml"
    # An expression on an untrusted input inside a shell script: script injection.
    workflow.write_text(workflow.read_text().replace("run: .venv/bin/pytest", 'run: echo "${{ github.event.pull_request.title }}" && .venv/bin/pytest'))
    result = subprocess.run([str(actionlint), str(workflow)], cwd=tmp_path, capture_output=True, text=True, check=False)
    assert result.returncode != 0 and "untrusted" in result.stdout
