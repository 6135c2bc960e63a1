"""The systemd units of the host tooling itself, written by `app-host bootstrap`: they ship
with the tooling (not in the user data) and call its subcommands."""

from __future__ import annotations

from .config import TOOL, HostConfig

__all__ = ["ACME_RESPONDER_SOCKET", "BACKUP_UNIT", "HEALTH_GATE_UNIT", "RELEASE_TIMER", "SANDBOX", "tooling_units"]

ACME_RESPONDER_SOCKET = "/run/app-host/acme-responder.sock"
HEALTH_GATE_UNIT = "app-host-health-gate.service"
BACKUP_UNIT = "app-host-backup.service"
RELEASE_UNIT = "app-host-release.service"
RELEASE_TIMER = "app-host-release.timer"
# How soon a host notices a new release after its last check ended.
RELEASE_CHECK_SECONDS = 20

# The sandbox of every unit that needs no root: the app, its migrations (rendered into the
# user data by cloud_init.systemd) and the challenge responder. MemoryDenyWriteExecute is
# left out: it breaks cffi-based packages that apps commonly use.
SANDBOX = """\
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
ProcSubset=pid
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
SystemCallArchitectures=native
SystemCallFilter=@system-service
SystemCallFilter=~@privileged @resources
CapabilityBoundingSet=
AmbientCapabilities=
DevicePolicy=closed
UMask=0077
"""


def tooling_units(config: HostConfig) -> dict[str, str]:
    """File name -> content of the units for this host: the health gate behind a load
    balancer, the certificate's units with ACME."""
    units: dict[str, str] = {
        # Root: it installs virtualenvs and starts and stops the app's slots.
        RELEASE_UNIT: f"""\
[Unit]
Description=Bring the app to the release the stack put in the store (blue/green, no failed request)
After=network-online.target nginx.service time-sync.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart={TOOL} release
# Install (pip: 15 min at most per run), migration and readiness (up to an hour each), a
# wait for a batch place and the drain, with room to spare.
TimeoutStartSec=3h
# pip builds beside the serving app: it yields the CPU to it.
Nice=10
CPUWeight=20
""",
        RELEASE_TIMER: f"""\
[Unit]
Description=Check for a new release {RELEASE_CHECK_SECONDS}s after the last check ended

[Timer]
OnActiveSec={RELEASE_CHECK_SECONDS}s
OnUnitInactiveSec={RELEASE_CHECK_SECONDS}s
AccuracySec=1s
RandomizedDelaySec=5s

[Install]
WantedBy=timers.target
""",
    }
    if config.health_gate_port:
        units[HEALTH_GATE_UNIT] = f"""\
[Unit]
Description=Port {config.health_gate_port} open only while the app answers (the load balancer's health check)
After=network-online.target nginx.service
Wants=network-online.target

[Service]
ExecStart={TOOL} health-gate
DynamicUser=yes
Restart=always
RestartSec=1
{SANDBOX}
[Install]
WantedBy=multi-user.target
"""
    if config.backup_prefix:
        # Root: it reads the app's environment file (the database URL) and the store's keys.
        units[BACKUP_UNIT] = f"""\
[Unit]
Description=Dump the app's database into the store, on one host of the fleet
After=network-online.target time-sync.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart={TOOL} backup
# Past the dump's own limit (3 h): a hung run ends, and its lock with it.
TimeoutStartSec=3h10min
PrivateTmp=yes
ProtectSystem=strict
# Its outcome, for the metrics (app_host.metrics); absent without a node exporter.
ReadWritePaths=-/var/lib/prometheus/node-exporter
ProtectHome=yes
NoNewPrivileges=yes
Nice=10
IOSchedulingClass=idle
"""
        units["app-host-backup.timer"] = f"""\
[Unit]
Description=Database dump on schedule ({config.backup_schedule}); each host tries, one dumps

[Timer]
OnCalendar={config.backup_schedule}
RandomizedDelaySec=15min
Persistent=yes

[Install]
WantedBy=timers.target
"""
    if config.certificate_kind != "acme":
        return units
    return units | {
        "app-host-acme-responder.socket": f"""\
[Unit]
Description=Socket of the ACME challenge responder (Nginx only)

[Socket]
ListenStream={ACME_RESPONDER_SOCKET}
SocketUser=www-data
SocketGroup=www-data
SocketMode=0600
DirectoryMode=0755

[Install]
WantedBy=sockets.target
""",
        "app-host-acme-responder.service": f"""\
[Unit]
Description=ACME HTTP-01 challenges of the fleet, answered from its store
Requires=app-host-acme-responder.socket
After=network-online.target

[Service]
ExecStart={TOOL} acme-responder
DynamicUser=yes
LoadCredential=store.conf:/etc/app-host/store.conf
{SANDBOX}""",
        # Root: it installs the certificate Nginx reads.
        "app-host-tls-sync.service": f"""\
[Unit]
Description=Install the fleet's certificate from the store if it is newer
# A clock not yet synced would refuse good certificates (or accept expired ones).
After=network-online.target nginx.service time-sync.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart={TOOL} tls sync
""",
        "app-host-tls-sync.timer": f"""\
[Unit]
Description=Pick up a renewed certificate within {config.certificate_sync_seconds} seconds

[Timer]
OnBootSec={config.certificate_sync_seconds}s
OnUnitActiveSec={config.certificate_sync_seconds}s
AccuracySec=1s
RandomizedDelaySec={max(1, config.certificate_sync_seconds // 6)}s

[Install]
WantedBy=timers.target
""",
        "app-host-tls-renew.service": f"""\
[Unit]
Description=Order the fleet's certificate when none is valid beyond {config.certificate_renew_days} days (one host at a time)
After=network-online.target nginx.service app-host-acme-responder.socket time-sync.target
Wants=network-online.target

[Service]
Type=oneshot
ExecStart={TOOL} tls renew
TimeoutStartSec=900
""",
        # Cheap when nothing is due (one read of the store); retries a first order that failed.
        "app-host-tls-renew.timer": """\
[Unit]
Description=Check the fleet's certificate for renewal

[Timer]
OnBootSec=5min
OnUnitActiveSec=30min
RandomizedDelaySec=5min

[Install]
WantedBy=timers.target
""",
    }
