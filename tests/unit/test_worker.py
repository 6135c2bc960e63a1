"""The hosts' gunicorn worker runs uvloop and httptools, the pins the hosts install."""

from __future__ import annotations

import re
from pathlib import Path

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from fastapi_deploy.app_host.worker import AppHostWorker
from fastapi_deploy.stack_model import SERVER_REQUIREMENTS

REPO = Path(__file__).resolve().parents[2]


def test_the_worker_names_uvloop_and_httptools_and_they_load() -> None:
    assert AppHostWorker.CONFIG_KWARGS["loop"] == "uvloop"
    assert AppHostWorker.CONFIG_KWARGS["http"] == "httptools"

    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called")

    config = uvicorn.Config(app, **{key: AppHostWorker.CONFIG_KWARGS[key] for key in ("loop", "http")})
    config.load()  # imports what the names point at: fails here if a package is missing
    assert config.http_protocol_class is HttpToolsProtocol


def test_the_hosts_pins_are_the_ones_the_tests_install() -> None:
    """requirements-dev.txt mirrors the server the hosts run, so checks here run the same."""
    dev = set(re.findall(r"^([A-Za-z0-9_.-]+==[^\s#]+)", (REPO / "requirements-dev.txt").read_text(), re.MULTILINE))
    assert set(SERVER_REQUIREMENTS) <= dev, set(SERVER_REQUIREMENTS) - dev
    assert {"uvloop==0.22.1", "httptools==0.7.1"} <= set(SERVER_REQUIREMENTS)
