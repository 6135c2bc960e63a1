"""systemd units of an app host and the gunicorn config they start."""

from __future__ import annotations

from fastapi_deploy.app_host.locks import lock_key
from fastapi_deploy.app_host.units import SANDBOX
from fastapi_deploy.cloud_init.layout import APP_HOST_TOOL, WORKER_CLASS, WORKER_MARKERS_ENV, HostLayout
from fastapi_deploy.cloud_init.nginx import UPSTREAM_KEEPALIVE_TIMEOUT_SECONDS
from fastapi_deploy.stack_model.host_spec import AppHostSpec

__all__ = [
    "HARDENING",
    "migration_lock_key",
    "render_app_service",
    "render_app_socket",
    "render_gunicorn_conf",
    "render_journald_conf",
    "render_migrate_service",
]

# Sandboxing of the app and its migration step: the tooling's units use the same.
HARDENING = SANDBOX


def migration_lock_key(spec: AppHostSpec) -> int:
    """A stable 64-bit advisory lock key per app, so two apps sharing a server don't block;
    the same derivation as the tooling's other fleet locks."""
    return lock_key(f"{spec.app_name}:migrations")


def render_app_socket(layout: HostLayout) -> str:
    # systemd owns the listening socket: it survives app restarts (connections queue instead
    # of failing) and only Nginx's user may connect to it. One per slot (%i).
    return f"""\
[Unit]
Description=Socket of the {layout.app_name} app server, %i slot

[Socket]
ListenStream={layout.slot_socket}
SocketUser=www-data
SocketGroup=www-data
SocketMode=0600
DirectoryMode=0755
Backlog=1024

[Install]
WantedBy=sockets.target
"""


# Pause between migration attempts; each attempt itself waits up to migration_wait_seconds
# for the database and the fleet's migration lock.
MIGRATION_RETRY_SECONDS = 15


def render_app_service(spec: AppHostSpec, layout: HostLayout) -> str:
    migration = ""
    if spec.app.migration_command is not None:
        # Wants, not Requires: with the database away longer than the migration's wait (RDS
        # maintenance during a scale-out), the app still starts and answers /readyz 503, and
        # the migration unit keeps retrying; once it succeeds, readiness turns 200 with no
        # one touching the host. Requires would leave the app down until a reboot.
        migrate = layout.instance(layout.migrate_unit)
        migration = f"Wants={migrate}\nAfter={migrate}\n"
    socket_unit = layout.instance(layout.socket_unit)
    return f"""\
[Unit]
Description={layout.app_name} app server (gunicorn with uvicorn workers), %i slot
Requires={socket_unit}
After={socket_unit} network-online.target
Wants=network-online.target
{migration}
[Service]
Type=notify
NotifyAccess=main
User={layout.service_user}
Group={layout.service_user}
# The slot's release name first, the app's own settings second (they win).
EnvironmentFile={layout.slot_release_env}
EnvironmentFile={layout.env_file}
# Each worker leaves a file here once it has imported the app (the release tooling waits
# for all of them before switching to this slot).
RuntimeDirectory={layout.worker_markers}
Environment={WORKER_MARKERS_ENV}=%t/{layout.worker_markers}
WorkingDirectory=/
ExecStart={layout.slot_venv}/bin/gunicorn --config {layout.gunicorn_conf} --bind unix:{layout.slot_socket} {spec.app.asgi_path}
ExecReload=/bin/kill -s HUP $MAINPID
KillMode=mixed
TimeoutStopSec=40
Restart=on-failure
RestartSec=1
{HARDENING}
[Install]
WantedBy=multi-user.target
"""


def render_migrate_service(spec: AppHostSpec, layout: HostLayout) -> str:
    command = spec.app.migration_command
    if command is None:
        raise ValueError("render_migrate_service needs app.migration_command")
    program = command[0] if command[0].startswith("/") else f"{layout.slot_venv}/bin/{command[0]}"
    argv = " ".join((program, *command[1:]))
    return f"""\
[Unit]
Description={layout.app_name} database migrations from the %i slot, once per fleet under an advisory lock
After=network-online.target
Wants=network-online.target
Before={layout.instance(layout.app_unit)}
# Retried for as long as it takes (see the app unit's Wants=).
StartLimitIntervalSec=0

[Service]
Type=oneshot
RemainAfterExit=yes
Restart=on-failure
RestartSec={MIGRATION_RETRY_SECONDS}
User={layout.service_user}
Group={layout.service_user}
EnvironmentFile={layout.env_file}
WorkingDirectory=/
ExecStart={APP_HOST_TOOL} migrate --lock-key {migration_lock_key(spec)} --wait-seconds {spec.migration_wait_seconds} -- {argv}
TimeoutStartSec={spec.migration_wait_seconds + 300}
{HARDENING}"""


def render_gunicorn_conf(spec: AppHostSpec, layout: HostLayout) -> str:
    return f"""\
# Managed by the app-host user data. Worker count from the capacity model:
# min((2 x {spec.capacity.vcpus} vCPUs) + 1, ({spec.capacity.memory_mib} MiB - \
{spec.capacity.reserved_memory_mib} MiB reserve) // {spec.capacity.worker_memory_mib} MiB per worker).
# systemd passes the listening socket of the slot ({layout.socket_unit}); the unit's --bind
# names the same path for runs outside systemd.
workers = {spec.worker_count}
# uvicorn's worker, stopping its accept loop at once on reload (app_host/worker.py), loaded
# from the host tooling's zipapp.
pythonpath = "{APP_HOST_TOOL}"
worker_class = "{WORKER_CLASS}"
proc_name = "{layout.app_name}"
# Only Nginx can reach the socket, so the forwarded headers it sets are trusted.
forwarded_allow_ips = "*"
# Longer than Nginx's upstream keepalive_timeout ({UPSTREAM_KEEPALIVE_TIMEOUT_SECONDS}s), so Nginx closes idle connections first.
keepalive = {UPSTREAM_KEEPALIVE_TIMEOUT_SECONDS + 45}
timeout = {spec.app.timeout_seconds}
graceful_timeout = 30
# Logs to stdout/stderr, which systemd sends to the journal.
# No runtime control socket: nothing on the host manages gunicorn but systemd.
control_socket_disable = True
# No access log here: Nginx writes the one access log (with the upstream time) to the
# journal; a second line per request from gunicorn cost 15-30% of throughput.
accesslog = None
errorlog = "-"
loglevel = "info"
"""


def render_journald_conf(spec: AppHostSpec) -> str:
    return f"""\
# Managed by the app-host user data: bound the journal so logs cannot fill the disk.
[Journal]
Storage=persistent
Compress=yes
SystemMaxUse={spec.journal_max_use_mib}M
SystemMaxFileSize={max(8, spec.journal_max_use_mib // 16)}M
MaxRetentionSec=1month
RateLimitIntervalSec=30s
RateLimitBurst=10000
"""
