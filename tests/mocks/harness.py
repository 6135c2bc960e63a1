"""This repository's program under mocks: `__main__.py` with a stack file's values.

The generic machinery (mocks that answer the components' invokes, the recorder, fresh runs)
is the public `fastapi_deploy.testing`, which users' own tests import too; this module only
adds the repository's paths and the StackConfig a stack file gives.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi_deploy.stack_model.stack_config import StackConfig, load_stack_config
from fastapi_deploy.testing import (
    DUMMY_SECRET,
    ProgramRun,
    Registration,
    VolcengineMocks,
    build_component,
    config_text,
    contains_secret,
    resolve,
    run_program,
    run_stack,
    unwrap,
)
from fastapi_deploy.testing import load_stack_file as _load_stack_file

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "__main__.py"
PROJECT = "fastapi-deploy"

__all__ = [
    "DUMMY_SECRET",
    "MAIN",
    "PROJECT",
    "REPO",
    "ProgramRun",
    "Registration",
    "VolcengineMocks",
    "build_component",
    "contains_secret",
    "load_stack_file",
    "load_stack_file_config",
    "resolve",
    "run_main",
    "run_program",
    "unwrap",
]


def load_stack_file(
    stack: str, overrides: Mapping[str, Any] | None = None, root: Path = REPO
) -> tuple[dict[str, Any], set[str]]:
    """The `fastapi-deploy:*` values of Pulumi.<stack>.yaml (without the prefix), with
    `secure:` values replaced by a dummy, and the keys that were secure."""
    return _load_stack_file(root, stack, overrides)


def load_stack_file_config(stack: str, overrides: Mapping[str, Any] | None = None) -> StackConfig:
    """The StackConfig `__main__.py` validates from Pulumi.<stack>.yaml (plus overrides): each
    value as the string Pulumi passes it, `secure:` values as the dummy."""
    values, _ = load_stack_file(stack, overrides)
    return load_stack_config({key: config_text(value) for key, value in values.items()})


def run_main(
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    preview: bool = False,
    secret_overrides: set[str] | None = None,
) -> ProgramRun:
    """Run __main__.py with the values of Pulumi.<stack>.yaml (plus overrides)."""
    return run_stack(REPO, stack, overrides, preview=preview, secret_overrides=secret_overrides)
