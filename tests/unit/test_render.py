import base64
import gzip
import hashlib
import io
import zipfile
from typing import Any

import pytest
import yaml

from fastapi_deploy.app_host.host_files import HOST_FILES, SSHD_CONF
from fastapi_deploy.artifacts import tooling_archive
from fastapi_deploy.cloud_init import USER_DATA_LIMIT_BYTES, UserDataTooLarge, render_user_data
from fastapi_deploy.cloud_init.render import release_record
from fastapi_deploy.stack_model import AcmeCertificates, AppHostSpec, Capacity, ObjectStorageSpec
from fastapi_deploy.stack_model.host_spec import JournalUploadSpec, MetricsShippingSpec
from tests.host_specs import (
    ADMIN_KEY,
    SAMPLE_PACKAGE,
    acme_spec,
    private_ca_bundle,
    sample_app,
    self_signed_spec,
)
from tests.journal_pki import journal_pki


def _config(text: str) -> dict[str, Any]:
    assert text.startswith("#cloud-config\n")
    loaded = yaml.safe_load(text)
    assert isinstance(loaded, dict)
    return loaded


def _written(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    files = {}
    for entry in config["write_files"]:
        assert entry["encoding"] == "gz+b64"
        entry = dict(entry, text=gzip.decompress(base64.b64decode(entry["content"])).decode())
        files[entry["path"]] = entry
    return files


def test_written_files_decode_to_the_rendered_files() -> None:
    rendered = render_user_data(acme_spec())
    files = _written(_config(rendered.cloud_config))
    assert {path: entry["text"] for path, entry in files.items()} == {f.path: f.content for f in rendered.files}


def test_service_user_has_no_shell_no_sudo_and_admin_has_keys_only() -> None:
    users = {user["name"]: user for user in _config(render_user_data(acme_spec()).cloud_config)["users"]}
    assert set(users) == {"api", "ops"}
    assert users["api"]["shell"] == "/usr/sbin/nologin"
    assert users["api"]["system"] is True
    assert "sudo" not in users["api"] and "groups" not in users["api"]
    assert users["ops"]["ssh_authorized_keys"] == [ADMIN_KEY]
    assert users["ops"]["lock_passwd"] is True


def test_no_admin_user_without_keys() -> None:
    users = _config(render_user_data(acme_spec(admin_ssh_keys=())).cloud_config)["users"]
    assert [user["name"] for user in users] == ["api"]


def test_ssh_passwords_and_root_are_off() -> None:
    rendered = render_user_data(acme_spec())
    config = _config(rendered.cloud_config)
    assert config["ssh_pwauth"] is False
    assert config["disable_root"] is True
    # The sshd drop-in ships with the tooling (the same on every host).
    assert "PasswordAuthentication no" in SSHD_CONF and "PermitRootLogin no" in SSHD_CONF
    assert HOST_FILES["/etc/ssh/sshd_config.d/10-app-host.conf"] == SSHD_CONF


def test_packages_and_the_two_first_boot_steps() -> None:
    config = _config(render_user_data(acme_spec()).cloud_config)
    assert {"nginx", "certbot", "python3-venv", "python3-boto3", "python3-psycopg"} <= set(config["packages"])
    # No nginx plugin: a hand-run `certbot --nginx` would rewrite the site and order per host.
    assert "python3-certbot-nginx" not in config["packages"]
    # Fetch the tooling (checked against its digest), then hand over to it.
    assert config["runcmd"] == [["/usr/local/lib/app-host/fetch-tooling"], ["/usr/local/sbin/app-host", "bootstrap"]]


def test_the_tooling_is_named_by_its_digest_and_no_code_travels_in_the_user_data() -> None:
    rendered = render_user_data(acme_spec())
    archive = tooling_archive()
    conf = rendered.file("/etc/app-host/host.conf").content
    digest = hashlib.sha256(archive).hexdigest()
    assert f"TOOLING_SHA256={digest}" in conf
    assert f"TOOLING_KEY=artifacts/{digest}/app-host-" in conf
    # Only the fetch script is code; the rest of the tooling is in the archive.
    executable = [item.path for item in rendered.files if item.mode == "0755"]
    assert executable == ["/usr/local/lib/app-host/fetch-tooling"]
    with zipfile.ZipFile(io.BytesIO(archive)) as zipapp:
        names = set(zipapp.namelist())
    assert {"__main__.py", "app_host/cli.py", "app_host/worker.py", "app_host/migrate.py"} <= names


def test_store_keys_are_root_only_and_nowhere_else() -> None:
    rendered = render_user_data(acme_spec())
    files = _written(_config(rendered.cloud_config))
    store = files["/etc/app-host/store.conf"]
    assert store["permissions"] == "0600" and store["owner"] == "root:root"
    assert "STORE_SECRET_ACCESS_KEY=hosts-secret" in store["text"]
    assert "STORE_ADDRESSING_STYLE=virtual" in store["text"]
    assert [path for path, entry in files.items() if "hosts-secret" in entry["text"]] == ["/etc/app-host/store.conf"]


def test_the_app_package_is_installed_from_the_fetched_file_never_by_name() -> None:
    record = release_record(acme_spec())
    requirements = record.requirements.splitlines()
    assert requirements[-1] == "/var/lib/app-host/artifacts/app-src.tar.gz"
    assert not any(line.startswith("notes-api") for line in requirements)
    assert (record.artifact_key, record.artifact_sha256) == (f"artifacts/{SAMPLE_PACKAGE.sha256}/app-src.tar.gz", SAMPLE_PACKAGE.sha256)
    pinned = release_record(acme_spec(app=sample_app(package=None, requirement="notes-api==0.1.0")))
    assert pinned.requirements.splitlines()[-1] == "notes-api==0.1.0"
    assert (pinned.artifact_key, pinned.label) == ("", "notes-api@0.1.0")


def test_the_user_data_names_no_app_version() -> None:
    """The version travels in the release record: a new one must not change the user data
    (which would replace a single host and leave a fleet's running hosts behind)."""
    v1 = acme_spec(app=sample_app(package=None, requirement="notes-api==0.1.0"))
    v2 = acme_spec(app=sample_app(package=None, requirement="notes-api==0.2.0"))
    assert render_user_data(v1).cloud_config == render_user_data(v2).cloud_config
    assert release_record(v1).id != release_record(v2).id
    assert release_record(v1).id.startswith("notes-api-0.1.0-")
    for item in render_user_data(v1).files:
        assert "0.1.0" not in item.content and "requirements" not in item.path


def test_environment_file_is_private_to_the_service_user_and_deferred() -> None:
    spec = acme_spec(app=sample_app(env={"FEATURE": 'a "quoted" $value'}, secret_env={"API_TOKEN": "tok"}))
    rendered = render_user_data(spec)
    files = _written(_config(rendered.cloud_config))
    env = files["/etc/api/env"]
    assert env["permissions"] == "0400" and env["owner"] == "api:api" and env["defer"] is True
    assert 'DATABASE_URL="postgresql://notes:secret-pw@10.0.0.5:5432/notes"' in env["text"]
    assert 'FEATURE="a \\"quoted\\" $value"' in env["text"]
    assert 'API_TOKEN="tok"' in env["text"]
    # The secret appears in no other file.
    others = [f for f in rendered.files if f.path != "/etc/api/env"]
    assert not [f.path for f in others if "secret-pw" in f.content or "tok\"" in f.content]


def test_object_storage_settings_reach_the_app_environment() -> None:
    storage = ObjectStorageSpec(endpoint_url="http://127.0.0.1:9000", bucket="notes", region="us-east-1", access_key_id="AK", secret_access_key="SK")
    env = render_user_data(acme_spec(object_storage=storage)).file("/etc/api/env").content
    for line in ('S3_ENDPOINT_URL="http://127.0.0.1:9000"', 'S3_BUCKET="notes"', 'S3_SECRET_ACCESS_KEY="SK"'):
        assert line in env


def test_gunicorn_gets_the_capacity_model_count_and_a_socket_never_a_port() -> None:
    spec = acme_spec(capacity=Capacity(vcpus=4, memory_mib=2048))
    rendered = render_user_data(spec)
    conf = rendered.file("/etc/api/gunicorn.conf.py").content
    assert "workers = 6\n" in conf
    assert 'worker_class = "app_host.worker.AppHostWorker"' in conf
    # The worker class is loaded from the tooling's zipapp.
    assert 'pythonpath = "/usr/local/sbin/app-host"' in conf
    for item in rendered.files:
        assert "0.0.0.0:8000" not in item.content and "bind = [\"0.0.0.0" not in item.content
    socket = rendered.file("/etc/systemd/system/api@.socket").content
    assert "ListenStream=/run/api/%i.sock" in socket and "SocketUser=www-data" in socket
    unit = rendered.file("/etc/systemd/system/api@.service").content
    assert "--bind unix:/run/api/%i.sock notes_api.main:app" in unit


def test_app_unit_is_notify_restarting_reloadable_and_after_migrations() -> None:
    unit = render_user_data(acme_spec()).file("/etc/systemd/system/api@.service").content
    for line in ("Type=notify", "Restart=on-failure", "ExecReload=/bin/kill -s HUP $MAINPID", "User=api",
                 "Wants=api-migrate@%i.service", "After=api-migrate@%i.service", "Requires=api@%i.socket",
                 "ExecStart=/opt/api/%i/venv/bin/gunicorn ", "RuntimeDirectory=api-%i",
                 "Environment=APP_HOST_WORKER_MARKERS=%t/api-%i",
                 "NoNewPrivileges=yes", "ProtectSystem=strict", "CapabilityBoundingSet=\n"):
        assert line in unit
    # The app's own settings are read last, so they win over the release's names.
    assert unit.index("EnvironmentFile=/opt/api/%i/release.env") < unit.index("EnvironmentFile=/etc/api/env")


def test_migration_unit_holds_the_advisory_lock_before_the_app() -> None:
    unit = render_user_data(acme_spec()).file("/etc/systemd/system/api-migrate@.service").content
    # It retries until the database lets it through; the app does not wait on its success.
    assert "Restart=on-failure" in unit and "StartLimitIntervalSec=0" in unit
    assert "Requires=api-migrate" not in render_user_data(acme_spec()).file("/etc/systemd/system/api@.service").content
    assert "Type=oneshot" in unit and "RemainAfterExit=yes" in unit and "Before=api@%i.service" in unit
    assert "ExecStart=/usr/local/sbin/app-host migrate --lock-key " in unit
    assert unit.rstrip().count("-- /opt/api/%i/venv/bin/notes-api-migrate") == 1


def test_no_migration_step_when_the_app_has_none() -> None:
    rendered = render_user_data(acme_spec(app=sample_app(migration_command=None)))
    paths = {f.path for f in rendered.files}
    assert "/etc/systemd/system/api-migrate@.service" not in paths
    assert "api-migrate" not in rendered.file("/etc/systemd/system/api@.service").content
    assert "MIGRATION=''" in rendered.file("/etc/app-host/host.conf").content


def test_nginx_site_proxy_rules() -> None:
    site = render_user_data(acme_spec()).file("/etc/nginx/sites-available/api.conf").content
    assert "keepalive 16;" in site and "proxy_http_version 1.1;" in site
    assert "'' '';" in site and "'' close" not in site
    assert 'proxy_set_header Connection "upgrade"' not in site
    assert "proxy_set_header X-Forwarded-Proto $scheme;" in site
    assert "location ^~ /.well-known/acme-challenge/" in site
    assert "return 301 https://$host$request_uri;" in site
    assert "ssl_reject_handshake on;" in site and "return 444;" in site
    assert 'Strict-Transport-Security "max-age=63072000" always' in site
    assert "client_max_body_size 10m;" in site
    assert "server_name api.example.test www.example.test;" in site


def test_nginx_main_config_drops_old_tls() -> None:
    conf = HOST_FILES["/etc/nginx/nginx.conf"]
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in conf and "TLSv1.1" not in conf
    assert "ssl_session_tickets off;" in conf and "server_tokens off;" in conf


def test_one_access_log_nginx_s_in_the_journal_with_the_upstream_time() -> None:
    conf = HOST_FILES["/etc/nginx/nginx.conf"]
    assert "access_log syslog:server=unix:/dev/log,nohostname,tag=nginx journal;" in conf
    assert "upstream_time=$upstream_response_time" in conf
    assert "error_log syslog:server=unix:/dev/log,nohostname,tag=nginx warn;" in conf
    assert "accesslog = None\n" in render_user_data(acme_spec()).file("/etc/api/gunicorn.conf.py").content


def test_private_acme_ca_is_trusted_for_issuance_and_renewal() -> None:
    pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    spec = acme_spec(certificates={"kind": "acme", "contact_email": "ops@example.test", "directory_url": "https://127.0.0.1:14000/dir", "ca_bundle_pem": pem})
    rendered = render_user_data(spec)
    assert rendered.file("/etc/app-host/acme-ca.pem").content == pem
    conf = rendered.file("/etc/app-host/host.conf").content
    assert "ACME_DIRECTORY=https://127.0.0.1:14000/dir" in conf and "ACME_CA_BUNDLE=/etc/app-host/acme-ca.pem" in conf


def test_self_signed_needs_no_acme_settings() -> None:
    conf = render_user_data(self_signed_spec()).file("/etc/app-host/host.conf").content
    assert "CERTIFICATE_KIND=self-signed" in conf and "ACME_DIRECTORY=''" in conf


def test_plain_http_private_index_is_trusted_explicitly() -> None:
    spec = acme_spec(app=sample_app(package_index_url="http://10.0.0.9:3141/root/prod/+simple/"))
    requirements = release_record(spec).requirements
    assert requirements.splitlines()[:2] == ["--index-url http://10.0.0.9:3141/root/prod/+simple/", "--trusted-host 10.0.0.9"]
    assert "gunicorn==27.0.1" in requirements


def test_rendering_is_deterministic() -> None:
    assert render_user_data(acme_spec()).cloud_config == render_user_data(acme_spec()).cloud_config


def test_user_data_fits_the_cloud_limit_and_oversize_is_refused() -> None:
    assert render_user_data(acme_spec()).size_bytes <= USER_DATA_LIMIT_BYTES
    # Random-looking values do not compress: 20 KB of them cannot fit.
    noise = "".join(hashlib.sha256(str(i).encode()).hexdigest() for i in range(700))
    big = acme_spec(app=sample_app(secret_env={"BLOB": noise}))
    with pytest.raises(UserDataTooLarge, match=r"app_name='api' is \d+ bytes, over the 16384-byte limit"):
        render_user_data(big)


# Issue budget: user data at most 12 KiB with a 2 KB private-CA bundle, a quarter under the
# cloud's 16 KiB, so the host layer has room to grow (the tooling travels as an artifact).
USER_DATA_BUDGET_BYTES = 12 * 1024


def _with_private_ca(spec_overrides: dict[str, object]) -> AppHostSpec:
    bundle = private_ca_bundle()
    assert 2000 <= len(bundle) <= 2400  # what the budget is stated for
    return acme_spec(
        certificates=AcmeCertificates(
            contact_email="ops@example.test", directory_url="https://acme.corp.example/directory", ca_bundle_pem=bundle
        ),
        **spec_overrides,
    )


@pytest.mark.parametrize(
    "shape",
    [
        # One host: an admin key, no bucket access for the app.
        {},
        # A fleet host as the prod stack renders it: the app's bucket keys and settings too.
        {
            "object_storage": ObjectStorageSpec(
                endpoint_url="https://tos-s3-cn-beijing.ivolces.com", bucket="notes-files-k3q9x2ab",
                region="cn-beijing", access_key_id="AKLT" + "x" * 40, secret_access_key="y" * 60,
            ),
            "app": sample_app(env={"LOG_LEVEL": "info"}),
            "health_gate_port": 8090,
        },
    ],
    ids=["single-host", "fleet"],
)
def test_user_data_with_a_private_ca_bundle_fits_the_budget(shape: dict[str, object]) -> None:
    spec = _with_private_ca(shape)
    rendered = render_user_data(spec)
    assert any(private_ca_bundle() in item.content for item in rendered.files)  # it travels inline
    assert rendered.size_bytes <= USER_DATA_BUDGET_BYTES


# A prod fleet host with everything on (bucket keys, metrics login, the journal's CA, client
# certificate and key as the stack makes them): measured 13,846-13,874 bytes; 2 KiB must stay
# free under the cloud's limit.
SHIPPING_HOST_BUDGET_BYTES = 16 * 1024 - 2 * 1024


def test_a_fleet_host_that_ships_metrics_and_journal_stays_2_kib_under_the_limit() -> None:
    pki = journal_pki("10.20.0.250")
    spec = acme_spec(
        object_storage=ObjectStorageSpec(
            endpoint_url="https://tos-s3-cn-beijing.ivolces.com", bucket="notes-files-k3q9x2ab",
            region="cn-beijing", access_key_id="AKLT" + "x" * 40, secret_access_key="y" * 60,
        ),
        app=sample_app(env={"LOG_LEVEL": "info"}),
        health_gate_port=8090,
        metrics=MetricsShippingSpec(
            write_url="http://write.prometheus-cn-beijing.ivolces.com/workspaces/" + "w" * 20,
            username="prod_app_metrics_hosts", password="x" * 26 + "!@#%",
        ),
        journal_upload=JournalUploadSpec(
            url="https://10.20.0.250:19532", ca_pem=pki.ca_pem, client_cert_pem=pki.client_cert_pem,
            client_key_pem=pki.client_key_pem,
        ),
    )  # fmt: skip
    rendered = render_user_data(spec)
    assert rendered.size_bytes <= SHIPPING_HOST_BUDGET_BYTES, rendered.size_bytes


def test_the_redirect_keeps_a_published_https_port() -> None:
    """On the dev stack 443 is published as 8443: http://name:8080/x must go to :8443."""
    assert "return 301 https://$host:8443$request_uri;" in render_user_data(acme_spec(public_https_port=8443)).file(
        "/etc/nginx/sites-available/api.conf"
    ).content
    assert "return 301 https://$host$request_uri;" in render_user_data(acme_spec()).file(
        "/etc/nginx/sites-available/api.conf"
    ).content
