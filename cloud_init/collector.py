"""The log collector's #cloud-config: Debian's systemd-journal-remote receiving the app hosts'
journals over HTTPS (its certificate from the stack's CA, which the hosts check), one journal
per sending host, kept within a size and an age.
"""

from __future__ import annotations

from fastapi_deploy.cloud_init.render import (
    JOURNAL_DIR,
    JOURNAL_PACKAGE,
    HostFile,
    admin_user,
    cloud_config_text,
    packed_file,
)
from fastapi_deploy.stack_model.host_spec import LogCollectorSpec

__all__ = ["REMOTE_JOURNALS", "collector_files", "render_collector_user_data"]

# Where the package's service writes (its LogsDirectory); one file set per sending host.
REMOTE_JOURNALS = "/var/log/journal/remote"
VACUUM_UNIT = "journal-remote-vacuum"


def collector_files(spec: LogCollectorSpec) -> tuple[HostFile, ...]:
    # No TrustedCertificateFile: Debian 12 builds journal-remote without client-certificate
    # checks ("--trust is not available"; it logs "Certificate checking disabled" and takes
    # any client certificate). Who may send is the security group's rule: the app hosts' group
    # only. The hosts do check the collector's certificate against the CA.
    remote_conf = (
        "# Managed by the collector's user data.\n[Remote]\nSplitMode=host\n"
        f"ServerKeyFile={JOURNAL_DIR}/server.key\nServerCertificateFile={JOURNAL_DIR}/server.pem\n"
    )
    # systemd 252's journal-remote has no size limit of its own: archived files past the
    # size or the age go hourly (the active file of each host rotates on its own size).
    vacuum_service = (
        "# Managed by the collector's user data.\n[Unit]\nDescription=Keep the received journals within bounds\n\n"
        f"[Service]\nType=oneshot\nExecStart=/usr/bin/journalctl --directory={REMOTE_JOURNALS} "
        f"--vacuum-size={spec.max_use_gib}G --vacuum-time={spec.keep_days}d\n"
    )
    vacuum_timer = (
        "# Managed by the collector's user data.\n[Unit]\nDescription=Hourly bound of the received journals\n\n"
        "[Timer]\nOnCalendar=hourly\nPersistent=yes\n\n[Install]\nWantedBy=timers.target\n"
    )
    return (
        HostFile(f"{JOURNAL_DIR}/server.pem", spec.server_cert_pem),
        # The service's own (static) user reads it; the user exists once the package is in.
        HostFile(
            f"{JOURNAL_DIR}/server.key",
            spec.server_key_pem.get_secret_value(),
            mode="0640",
            owner="root:systemd-journal-remote",
            defer=True,
            secret=True,
        ),
        HostFile("/etc/systemd/journal-remote.conf.d/10-app-host.conf", remote_conf),
        HostFile(f"/etc/systemd/system/{VACUUM_UNIT}.service", vacuum_service),
        HostFile(f"/etc/systemd/system/{VACUUM_UNIT}.timer", vacuum_timer),
    )


def render_collector_user_data(spec: LogCollectorSpec, *, refresh_package_index: bool = True) -> str:
    """The collector's #cloud-config; raises UserDataTooLarge over the cloud's limit."""
    # Never the image's default user (cloud-init makes it, with sudo, when `users` is absent,
    # and an empty list is invalid): without keys the admin exists, locked, with no shell.
    locked: dict[str, object] = {
        "name": spec.admin_user, "system": True, "shell": "/usr/sbin/nologin", "no_create_home": True, "lock_passwd": True,
    }  # fmt: skip
    users = [admin_user(spec.admin_user, spec.admin_ssh_keys) if spec.admin_ssh_keys else locked]
    config: dict[str, object] = {
        "package_update": refresh_package_index,
        "package_upgrade": False,
        "packages": [JOURNAL_PACKAGE, "ca-certificates", "openssh-server"],
        "ssh_pwauth": False,
        "disable_root": True,
        "users": users,
        "write_files": [packed_file(item) for item in collector_files(spec)],
        "runcmd": [
            ["systemctl", "daemon-reload"],
            ["systemctl", "enable", "--now", "systemd-journal-remote.socket", f"{VACUUM_UNIT}.timer"],
            # Started by the package before its key existed: again, with it.
            ["systemctl", "try-restart", "systemd-journal-remote.service"],
            # The same package's sending end, which the collector does not use.
            ["systemctl", "disable", "--now", "systemd-journal-upload.service"],
        ],
    }
    return cloud_config_text(config, "the log collector", "give it fewer admin keys")
