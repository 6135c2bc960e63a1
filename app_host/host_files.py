"""Host files that do not depend on the spec: they ship with the tooling and `app-host
bootstrap` writes them (the user data carries only what differs between stacks)."""

from __future__ import annotations

from pathlib import Path

from .system import atomic_write

__all__ = ["HOST_FILES", "NGINX_CONF", "SSHD_CONF", "install_host_files"]

# The whole /etc/nginx/nginx.conf: Debian's enables TLS 1.0 and 1.1 at http level, which a
# site file cannot override, so the host owns this file. TLS follows Mozilla's "intermediate"
# guideline 6.0: TLS 1.2 and 1.3, forward-secret AEAD suites only.
NGINX_CONF = """\
# Managed by app-host (the host tooling); edits are lost when the host is replaced.
user www-data;
worker_processes auto;
# Each proxied request holds two descriptors (client and upstream).
worker_rlimit_nofile 8192;
pid /run/nginx.pid;
# To the journal with the access log (the file stays only for errors before this is read).
error_log syslog:server=unix:/dev/log,nohostname,tag=nginx warn;
include /etc/nginx/modules-enabled/*.conf;

events {
    worker_connections 1024;
}

http {
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    server_tokens off;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305;
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:TLS:10m;
    # nginx < 1.23.2 never rotates ticket keys, which would undo forward secrecy.
    ssl_session_tickets off;

    # The host's one access log, in the journal (SYSLOG_IDENTIFIER=nginx) like the app's
    # logs: the journal's limits bound it. upstream_time is the app's share of request_time.
    log_format journal '$remote_addr "$request" $status $body_bytes_sent '
                       'request_time=$request_time upstream_time=$upstream_response_time '
                       'host=$host "$http_user_agent"';
    access_log syslog:server=unix:/dev/log,nohostname,tag=nginx journal;

    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}
"""

# sshd: keys only, never root (cloud-init's ssh_pwauth and disable_root say the same).
SSHD_CONF = """\
# Managed by app-host (the host tooling).
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
"""

HOST_FILES: dict[str, str] = {
    "/etc/nginx/nginx.conf": NGINX_CONF,
    "/etc/ssh/sshd_config.d/10-app-host.conf": SSHD_CONF,
}


def install_host_files() -> None:
    for path, text in HOST_FILES.items():
        atomic_write(Path(path), text.encode(), mode=0o644)
