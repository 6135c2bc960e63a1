"""Render tests run the real validators (cloud-init, nginx, gixy, systemd, shellcheck, gunicorn, mtail,
Prometheus)
on the files the renderer produces."""

from __future__ import annotations

import shutil

import pytest

_TOOLS = (
    "cloud-init", "nginx", "systemd-analyze", "shellcheck", "openssl", "mtail",
    "prometheus", "promtool", "prometheus-node-exporter",
)  # fmt: skip


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [tool for tool in _TOOLS if shutil.which(tool) is None]
    if not missing:
        return
    import os

    if os.environ.get("CI") == "true":
        raise pytest.UsageError(f"render tests need {missing}; .ci/run installs them")
    skip = pytest.mark.skip(reason=f"missing validators: {missing} (apt-get install them)")
    for item in items:
        if "tests/render" in str(item.fspath):
            item.add_marker(skip)
