"""The rendered user data and the files it writes pass the real validators."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from fastapi_deploy.app_host.config import HostConfig
from fastapi_deploy.app_host.host_files import HOST_FILES
from fastapi_deploy.app_host.units import tooling_units
from fastapi_deploy.artifacts import tooling_archive
from fastapi_deploy.cloud_init import HostLayout, RenderedUserData, render_user_data
from fastapi_deploy.cloud_init.collector import collector_files, render_collector_user_data
from fastapi_deploy.stack_model import ObjectStorageSpec
from fastapi_deploy.stack_model.host_spec import JournalUploadSpec, LogCollectorSpec, MetricsShippingSpec
from tests.host_specs import acme_spec, sample_app, self_signed_spec
from tests.journal_pki import journal_pki

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
# Fails the build if a change loosens the sandbox: measured 1.4 for the app unit; systemd
# calls < 2.0 "OK", and the hardened reference unit in shared FACTS.md scores 3.7.
# systemd-analyze takes the threshold in tenths.
EXPOSURE_THRESHOLD = 2.0
EXPOSURE_THRESHOLD_TENTHS = 20

_PKI = journal_pki("10.20.0.250")
SPECS = {
    "acme": acme_spec(),
    "self-signed": self_signed_spec(admin_ssh_keys=()),
    "storage-and-env": acme_spec(
        object_storage=ObjectStorageSpec(endpoint_url="https://tos-s3-cn-beijing.volces.com", bucket="notes-prod", region="cn-beijing", access_key_id="AK", secret_access_key="SK"),
        app=sample_app(env={"LOG_LEVEL": "info"}, secret_env={"API_TOKEN": "t"}),
    ),
    "no-migrations": acme_spec(app=sample_app(migration_command=None)),
    # A fleet host that ships its numbers and its journal.
    "shipping": acme_spec(
        metrics=MetricsShippingSpec(write_url="http://write.prometheus-cn-beijing.ivolces.com/workspaces/w-1", username="app_metrics_hosts", password="W0rk!pass-word_30-characters"),
        journal_upload=JournalUploadSpec(url="https://10.20.0.250:19532", ca_pem=_PKI.ca_pem, client_cert_pem=_PKI.client_cert_pem, client_key_pem=_PKI.client_key_pem),
    ),
}


def test_cloud_init_schema_accepts_the_collectors_user_data(tmp_path: Path) -> None:
    for keys in ((), ("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEYu5Bs4fY7dY0yVbQJ8TjUPu1e0rmvL5LhjaeM0ZxGs ops@example",)):
        spec = LogCollectorSpec(server_cert_pem=_PKI.server_cert_pem, server_key_pem=_PKI.server_key_pem, admin_ssh_keys=keys)
        user_data = tmp_path / "collector"
        user_data.write_text(render_collector_user_data(spec))
        result = _run(["cloud-init", "schema", "--config-file", str(user_data)])
        assert result.returncode == 0 and "Valid cloud-config" in result.stdout, result.stdout + result.stderr
    units = []
    for item in collector_files(spec):
        if item.path.startswith("/etc/systemd/system/"):
            units.append(tmp_path / Path(item.path).name)
            units[-1].write_text(item.content)
    verified = _run(["systemd-analyze", "verify", *map(str, units)], cwd=tmp_path)
    assert len(units) == 2 and (verified.stdout + verified.stderr).strip() == ""


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload, no-any-return]


def _materialise(rendered: RenderedUserData, root: Path) -> None:
    for item in rendered.files:
        path = root / item.path.lstrip("/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(item.content)


@pytest.mark.parametrize("name", sorted(SPECS))
def test_cloud_init_schema_accepts_the_user_data(name: str, tmp_path: Path) -> None:
    user_data = tmp_path / "user-data"
    user_data.write_text(render_user_data(SPECS[name]).cloud_config)
    result = _run(["cloud-init", "schema", "--config-file", str(user_data)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


def test_cloud_init_schema_rejects_a_broken_config(tmp_path: Path) -> None:
    # Proves the validator is live: a wrong type in a module the renderer uses.
    broken = tmp_path / "user-data"
    broken.write_text(render_user_data(SPECS["acme"]).cloud_config.replace("ssh_pwauth: false", "ssh_pwauth: [1]"))
    assert _run(["cloud-init", "schema", "--config-file", str(broken)]).returncode != 0


def _nginx_tree(rendered: RenderedUserData, tmp_path: Path) -> Path:
    """The rendered Nginx files under tmp_path, with host-only paths pointed into it."""
    layout = HostLayout("api")
    certs = tmp_path / "ssl"
    certs.mkdir()
    made = _run([
        "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-days", "1", "-subj", "/CN=api.example.test",
        "-keyout", str(certs / "privkey.pem"), "-out", str(certs / "fullchain.pem"),
    ])
    assert made.returncode == 0, made.stderr
    sites = tmp_path / "sites-enabled"
    sites.mkdir()
    (tmp_path / "logs").mkdir()
    # The config needs no dynamic module; the outer machine's modules-enabled/ (whatever it
    # has installed) must not decide the result.
    modules = tmp_path / "modules-enabled"
    modules.mkdir()
    # Likewise conf.d/, which on a host is empty; mime.types is nginx-common's own file.
    extra = tmp_path / "conf.d"
    extra.mkdir()
    moves = {
        "/etc/nginx/modules-enabled/": f"{modules}/",
        "/etc/nginx/conf.d/": f"{extra}/",
        "/etc/nginx/sites-enabled/": f"{sites}/",
        f"{layout.certificate_dir}/": f"{certs}/",
        "/var/log/nginx/": f"{tmp_path}/logs/",
        "/run/nginx.pid": f"{tmp_path}/nginx.pid",
    }

    def moved(text: str) -> str:
        for old, new in moves.items():
            text = text.replace(old, new)
        return text

    # nginx.conf ships with the host tooling; the site comes from the user data.
    (tmp_path / "nginx.conf").write_text(moved(HOST_FILES["/etc/nginx/nginx.conf"]))
    (sites / "api.conf").write_text(moved(rendered.file("/etc/nginx/sites-available/api.conf").content))
    return tmp_path / "nginx.conf"


@pytest.mark.parametrize("name", ["acme", "storage-and-env"])
def test_nginx_accepts_the_config(name: str, tmp_path: Path) -> None:
    conf = _nginx_tree(render_user_data(SPECS[name]), tmp_path)
    result = _run(["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(conf), "-g", f"error_log {tmp_path}/logs/error.log;"])
    assert result.returncode == 0, result.stderr


def test_nginx_validator_is_live(tmp_path: Path) -> None:
    conf = _nginx_tree(render_user_data(SPECS["acme"]), tmp_path)
    site = tmp_path / "sites-enabled" / "api.conf"
    site.write_text(site.read_text().replace("keepalive 16;", "keepalive;"))
    assert _run(["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(conf)]).returncode != 0


def test_gixy_finds_nothing(tmp_path: Path) -> None:
    conf = _nginx_tree(render_user_data(SPECS["acme"]), tmp_path)
    result = _run([str(VENV_BIN / "gixy"), str(conf)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No issues found" in result.stdout, result.stdout


def test_gixy_is_live(tmp_path: Path) -> None:
    # The classic mistake gixy must catch: forwarding a Host header the client chose.
    conf = _nginx_tree(render_user_data(SPECS["acme"]), tmp_path)
    site = tmp_path / "sites-enabled" / "api.conf"
    site.write_text(site.read_text().replace("proxy_set_header Host $host;", "proxy_set_header Host $http_host;"))
    result = _run([str(VENV_BIN / "gixy"), str(conf)])
    assert result.returncode != 0 and "host_spoofing" in result.stdout


def _units(rendered: RenderedUserData, root: Path) -> list[Path]:
    """The app's units as a host runs them: instances of the templates for the blue slot
    (systemd reads %i from the file name)."""
    _materialise(rendered, root)
    unit_dir = root / "etc/systemd/system"
    templates = sorted(unit_dir.glob("api*@.*"))
    for template in templates:
        (unit_dir / template.name.replace("@.", "@blue.")).write_text(template.read_text())
    return sorted(unit_dir.glob("api*@blue.*"))


@pytest.mark.parametrize("name", sorted(SPECS))
def test_systemd_accepts_the_units(name: str, tmp_path: Path) -> None:
    units = _units(render_user_data(SPECS[name]), tmp_path)
    assert units
    result = _run(["systemd-analyze", "verify", *map(str, units)], cwd=tmp_path)
    # The app's virtualenv and the host tooling exist only on a host; any other finding fails.
    on_host_only = r"Command (/opt/api/blue/venv/bin/gunicorn|/usr/local/sbin/app-host) is not executable"
    findings = [
        line for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and not re.search(on_host_only, line)
    ]
    assert findings == []


def _tooling_units(tmp_path: Path) -> list[Path]:
    """The units the host tooling installs at boot, for the host.conf the user data writes."""
    host_conf = tmp_path / "host.conf"
    # A fleet host with every optional unit: the health gate and the database dumps.
    spec = SPECS["acme"].model_copy(update={"health_gate_port": 8090, "backup_schedule": "*-*-* 03:00:00"})
    host_conf.write_text(render_user_data(spec).file("/etc/app-host/host.conf").content)
    unit_dir = tmp_path / "etc/systemd/system"
    unit_dir.mkdir(parents=True, exist_ok=True)
    for name, text in tooling_units(HostConfig.load(host_conf)).items():
        (unit_dir / name).write_text(text)
    return sorted(unit_dir.glob("app-host-*"))


def test_systemd_accepts_the_tooling_units(tmp_path: Path) -> None:
    units = _tooling_units(tmp_path)
    assert {unit.name for unit in units} >= {
        "app-host-acme-responder.socket", "app-host-tls-renew.timer", "app-host-tls-sync.timer",
        "app-host-health-gate.service", "app-host-backup.service", "app-host-backup.timer",
    }
    result = _run(["systemd-analyze", "verify", *map(str, units)], cwd=tmp_path)
    findings = [
        line for line in (result.stdout + result.stderr).splitlines()
        if line.strip() and "Command /usr/local/sbin/app-host is not executable" not in line
    ]
    assert findings == []


def test_the_challenge_responder_is_sandboxed(tmp_path: Path) -> None:
    """It parses requests that come from the internet (through Nginx): the same bar as the app."""
    path = next(unit for unit in _tooling_units(tmp_path) if unit.name == "app-host-acme-responder.service")
    result = _run(["systemd-analyze", "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD_TENTHS}", str(path)])
    assert result.returncode == 0, result.stdout[-2000:]


def test_systemd_verify_is_live(tmp_path: Path) -> None:
    units = _units(render_user_data(SPECS["acme"]), tmp_path)
    service = next(unit for unit in units if unit.name == "api@blue.service")
    service.write_text(service.read_text().replace("Type=notify", "Type=notfy"))
    result = _run(["systemd-analyze", "verify", str(service)], cwd=tmp_path)
    assert "Failed to parse service type" in result.stderr


@pytest.mark.parametrize("unit", ["api@blue.service", "api-migrate@blue.service"])
def test_unit_exposure_is_below_threshold(unit: str, tmp_path: Path) -> None:
    _units(render_user_data(SPECS["acme"]), tmp_path)
    path = tmp_path / "etc/systemd/system" / unit
    result = _run(["systemd-analyze", "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD_TENTHS}", str(path)])
    assert result.returncode == 0, result.stdout[-2000:]
    score = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout)
    assert score and float(score.group(1)) < EXPOSURE_THRESHOLD


def test_exposure_check_is_live(tmp_path: Path) -> None:
    _units(render_user_data(SPECS["acme"]), tmp_path)
    path = tmp_path / "etc/systemd/system/api@blue.service"
    text = path.read_text()
    for line in ("ProtectSystem=strict", "PrivateDevices=yes", "CapabilityBoundingSet=", "SystemCallFilter=@system-service"):
        text = text.replace(line + "\n", "")
    path.write_text(text)
    result = _run(["systemd-analyze", "security", "--offline=true", f"--threshold={EXPOSURE_THRESHOLD_TENTHS}", str(path)])
    assert result.returncode != 0


def test_shellcheck_passes_on_the_shell_scripts() -> None:
    # The host tooling is Python now; shell is left for the repository's own scripts.
    scripts = sorted(path for path in (REPO / "scripts").iterdir() if path.read_text().startswith("#!/usr/bin/env bash"))
    assert len(scripts) >= 1
    scripts += [REPO / ".ci" / "run", REPO / "tests/boot/images/postgres/docker-entrypoint.sh"]
    result = _run(["shellcheck", "--severity=style", *map(str, scripts)])
    assert result.returncode == 0, result.stdout


def test_gunicorn_check_config_loads_the_app(tmp_path: Path) -> None:
    rendered = render_user_data(SPECS["acme"])
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(rendered.file("/etc/api/gunicorn.conf.py").content)
    env = dict(os.environ, DATABASE_URL="postgresql://notes:pw@127.0.0.1:5432/notes")
    result = _run([str(VENV_BIN / "gunicorn"), "--check-config", "--config", str(conf), "notes_api.main:app"], env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    # The worker class named in the config imports from the tooling's zipapp, as gunicorn's
    # pythonpath puts it on sys.path on the host.
    tooling = tmp_path / "app-host"
    tooling.write_bytes(tooling_archive())
    loaded = _run([sys.executable, "-c", "from gunicorn.util import load_class; print(load_class('app_host.worker.AppHostWorker'))"], env=dict(env, PYTHONPATH=str(tooling)), cwd=tmp_path)
    assert "AppHostWorker" in loaded.stdout, loaded.stderr
    broken = _run([str(VENV_BIN / "gunicorn"), "--check-config", "--config", str(conf), "notes_api.main:missing"], env=env, cwd=tmp_path)
    assert broken.returncode != 0
