"""The offline plan (`scripts/plan`): both stacks planned, counts and verdicts as the mocks
runs see them, and no secret value anywhere in it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fastapi_deploy.plan import main
from tests.mocks.harness import FILLED_IN, REPO, run_main

FILLED = [f"--set={key}={value if isinstance(value, str) else json.dumps(value)}" for key, value in FILLED_IN.items()]


def plan(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    status = main([*argv, f"--project-dir={REPO}"])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_prod_plan_lists_what_the_program_registers(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, _ = plan(capsys, "prod", *FILLED, f"--out={tmp_path}")
    assert status == 0
    run = run_main("prod")
    components = sum(1 for item in run.registrations if not item.custom)
    assert f"Resources: {len(run.registrations)} ({components} components)" in out
    for item in run.registrations:
        assert f"  {item.type}  {item.name}" in out
    assert "app-fleet-configuration: " in out and "bytes (scaling configuration" in out
    assert "world-open-ports-only-80-443: pass" in out and "FAIL" not in out
    diagram = (tmp_path / "prod.md").read_text()
    assert diagram.startswith("# Plan of stack prod") and "flowchart LR" in diagram


def test_the_dev_plan_runs_too(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, out, _ = plan(capsys, "dev", f"--out={tmp_path}")
    assert status == 0 and "docker:index/container:Container  dev-app-host-container" in out
    assert "(no cloud hosts in this stack)" in out


def test_the_plan_shows_no_secret(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    stack_file = tmp_path / "Pulumi.prod.yaml"
    document = yaml.safe_load((REPO / "Pulumi.prod.yaml").read_text())
    document["config"]["fastapi-deploy:appSecretEnv"] = {"secure": "v1:c2FsdA==:Y2lwaGVy"}
    stack_file.write_text(yaml.safe_dump(document))
    status, out, _ = plan(capsys, "prod", *FILLED, f"--stack-file={stack_file}", f"--out={tmp_path}")
    assert status == 0
    for secret in (
        "not-a-real-secret",  # the stack file's secure value (as the mocks decrypt it)
        "Mock-Pw_",  # generated passwords: database and console
        "mock-secret-of-app-files",  # the access keys' secret halves
        "postgresql://",  # the database URL inside the user data
    ):
        assert secret not in out, secret
    assert "userData=[secret, " in out and "database_password=[secret]" in out


def test_a_refused_configuration_is_a_failed_plan(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    status, _, err = plan(capsys, "prod", f"--out={tmp_path}")
    assert status == 1 and "fastapi-deploy:domain = 'api.example.com': a documentation placeholder" in err


def test_plans_are_deterministic(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    _, first, _ = plan(capsys, "prod", *FILLED, f"--out={tmp_path}")
    _, second, _ = plan(capsys, "prod", *FILLED, f"--out={tmp_path}")
    assert first == second
