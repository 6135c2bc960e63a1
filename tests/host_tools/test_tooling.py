"""The host tooling's own parts, off the host: its settings files, the store and the
artifact check that refuses anything the user data did not name."""

from __future__ import annotations

import hashlib
import io
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from fastapi_deploy.app_host.artifacts import ArtifactRejected, fetch_artifact
from fastapi_deploy.app_host.config import ConfigError, HostConfig, StoreConfig, read_assignments
from fastapi_deploy.app_host.store import LocalStore, StoreUnavailable
from fastapi_deploy.artifacts import tooling_archive, tooling_ref
from fastapi_deploy.cloud_init import render_user_data
from tests.host_specs import acme_spec


def test_the_settings_the_renderer_writes_are_the_settings_the_tooling_reads(tmp_path: Path) -> None:
    rendered = render_user_data(acme_spec())
    host_conf = tmp_path / "host.conf"
    host_conf.write_text(rendered.file("/etc/app-host/host.conf").content)
    config = HostConfig.load(host_conf)
    assert config.app_name == "api" and config.domains == ("api.example.test", "www.example.test")
    assert config.certificate_dir == Path("/etc/ssl/api")
    assert (config.readiness_path, config.migration) == ("/readyz", True)
    store_conf = tmp_path / "store.conf"
    store_conf.write_text(rendered.file("/etc/app-host/store.conf").content)
    store = StoreConfig.load(store_conf)
    assert (store.kind, store.bucket, store.secret_access_key) == ("s3", "notes-files", "hosts-secret")
    assert "hosts-secret" not in repr(store)


def test_settings_errors_say_which_file_and_which_setting(tmp_path: Path) -> None:
    path = tmp_path / "host.conf"
    path.write_text("APP_NAME=api\n")
    with pytest.raises(ConfigError, match=r"host.conf has no DOMAINS"):
        HostConfig.load(path)
    path.write_text("not an assignment\n")
    with pytest.raises(ConfigError, match=r"host.conf:1 is not NAME=value"):
        read_assignments(path)
    with pytest.raises(ConfigError, match=r"cannot read"):
        read_assignments(tmp_path / "missing.conf")


def test_an_artifact_is_installed_only_with_the_named_digest(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "store")
    data = b"the app"
    digest = hashlib.sha256(data).hexdigest()
    store.put(f"artifacts/{digest}/app.whl", data)
    fetched = fetch_artifact(store, f"artifacts/{digest}/app.whl", digest, into=tmp_path / "out")
    assert fetched.read_bytes() == data
    # Tampered in the store: refused, and nothing is written.
    store.put(f"artifacts/{digest}/evil.whl", b"not the app")
    with pytest.raises(ArtifactRejected, match=r"has SHA-256 .* the user data names"):
        fetch_artifact(store, f"artifacts/{digest}/evil.whl", digest, into=tmp_path / "out")
    assert not (tmp_path / "out" / "evil.whl").exists()
    with pytest.raises(ArtifactRejected, match="is not in the local store"):
        fetch_artifact(store, "artifacts/0/missing.whl", digest, into=tmp_path / "out")


def test_an_unreachable_store_is_retried_then_refused(tmp_path: Path) -> None:
    class Down:
        calls = 0

        def get(self, key: str) -> bytes | None:
            Down.calls += 1
            raise StoreUnavailable("connection refused")

        def describe(self) -> str:
            return "a store that is down"

    with pytest.raises(ArtifactRejected, match="store unreachable for 2s"):
        fetch_artifact(Down(), "artifacts/x/a.whl", "0" * 64, into=tmp_path, wait_seconds=2)  # type: ignore[arg-type]
    assert Down.calls >= 2


def test_local_store_keys_cannot_leave_the_store(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    for key in ("../etc/passwd", "a//b", "/abs", ""):
        with pytest.raises(ValueError, match="not a plain relative path"):
            store.get(key)


def test_the_zipapp_is_deterministic_and_runs(tmp_path: Path) -> None:
    assert tooling_archive() == tooling_archive()
    assert tooling_ref().sha256 == hashlib.sha256(tooling_archive()).hexdigest()
    with zipfile.ZipFile(io.BytesIO(tooling_archive())) as archive:
        assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        names = archive.namelist()
    assert names == sorted(names) and not any(name.endswith(".pyc") for name in names)
    tool = tmp_path / "app-host"
    tool.write_bytes(tooling_archive())
    result = subprocess.run([sys.executable, str(tool), "--version"], capture_output=True, text=True, check=False)
    assert result.returncode == 0 and result.stdout.startswith("app-host ")
