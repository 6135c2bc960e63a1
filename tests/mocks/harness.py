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
# What a user fills in before the first prod deploy (Pulumi.prod.yaml ships placeholders,
# which a cloud stack refuses): a name and networks that are not documentation values.
FILLED_IN: dict[str, Any] = {
    "domain": "api.notes-demo.cn",
    "acmeEmail": "ops@notes-demo.cn",
    "alarmContactEmail": "alarms@notes-demo.cn",
    "adminCidrs": ["100.64.12.0/24"],
}

__all__ = [
    "DUMMY_SECRET",
    "FILLED_IN",
    "MAIN",
    "PROJECT",
    "REPO",
    "ProgramRun",
    "Registration",
    "VolcengineMocks",
    "build_component",
    "cloud_config_of",
    "contains_secret",
    "load_stack_file",
    "load_stack_file_config",
    "resolve",
    "run_main",
    "run_program",
    "shell_settings",
    "unwrap",
    "written_files",
]


def load_stack_file(
    stack: str, overrides: Mapping[str, Any] | None = None, root: Path = REPO, *, as_shipped: bool = False
) -> tuple[dict[str, Any], set[str]]:
    """The `fastapi-deploy:*` values of Pulumi.<stack>.yaml (without the prefix), with
    `secure:` values replaced by a dummy, and the keys that were secure. The prod file's
    placeholders are replaced by FILLED_IN unless `as_shipped`."""
    filled = FILLED_IN if stack == "prod" and not as_shipped else {}
    return _load_stack_file(root, stack, {**filled, **(overrides or {})})


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
    *,
    as_shipped: bool = False,
) -> ProgramRun:
    """Run __main__.py with the values of Pulumi.<stack>.yaml (plus overrides; the prod
    file's placeholders filled in unless `as_shipped`)."""
    filled = FILLED_IN if stack == "prod" and not as_shipped else {}
    return run_stack(REPO, stack, {**filled, **(overrides or {})}, preview=preview, secret_overrides=secret_overrides)


def cloud_config_of(registration: Registration) -> dict[str, Any]:
    """The #cloud-config a host resource boots, parsed: from an ECS instance's or scaling
    configuration's Base64 `userData`, or a dev container's NoCloud upload. Decoding only
    knows cloud-init's formats, not our renderer."""
    import base64

    import yaml

    if registration.type == "docker:index/container:Container":
        text = next(
            upload["content"]
            for upload in registration.inputs["uploads"]
            if upload["file"] == "/var/lib/cloud/seed/nocloud/user-data"
        )
    else:
        text = base64.b64decode(registration.inputs["userData"]).decode()
    assert text.startswith("#cloud-config\n")
    document: dict[str, Any] = yaml.safe_load(text)
    document["_bytes"] = len(text.encode())
    return document


def written_files(registration: Registration) -> dict[str, str]:
    """path -> content of every file the host's user data writes (write_files, gz+b64)."""
    import base64
    import gzip

    files = {}
    for entry in cloud_config_of(registration)["write_files"]:
        assert entry["encoding"] == "gz+b64", entry["path"]
        files[entry["path"]] = gzip.decompress(base64.b64decode(entry["content"])).decode()
    return files


def shell_settings(text: str) -> dict[str, str]:
    """NAME=value lines (shell-quoted), as in host.conf."""
    import shlex

    values = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            name, _, value = words[0].partition("=")
            values[name] = value
    return values
