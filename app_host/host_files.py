"""Host files that do not depend on the spec: they ship with the tooling and `app-host
bootstrap` writes them (the user data carries only what differs between stacks)."""

from __future__ import annotations

from pathlib import Path

from .system import atomic_write

__all__ = ["HOST_FILES", "MTAIL_PROGRAM", "NGINX_CONF", "SSHD_CONF", "install_host_files"]

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
    # The same requests as numbers for mtail (request rate, 5xx rate, latency on
    # 127.0.0.1:3903): a file it tails, written in 32 KB batches, rotated by size (below).
    # Not a datagram socket: Debian's mtail reads those one per poll, a few hundred a second.
    log_format metrics '$status $request_time';
    access_log /var/log/nginx/metrics.stream metrics buffer=32k flush=1s;

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

# What users feel, from Nginx's point of view: requests by status class and how long they took
# (request_time: from the first byte read to the last byte sent, the app's share included).
MTAIL_PROGRAM = """\
# Managed by app-host (the host tooling). One line per request: "<status> <request_time>".
counter nginx_requests_total by status_class
histogram nginx_request_seconds buckets 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60

/(?P<status>[1-5])\\d\\d (?P<seconds>\\d+\\.\\d+)$/ {
  nginx_requests_total[$status + "xx"]++
  # mtail 3.0.0-rc50 counts a 0 in no exported bucket (the count would outgrow +Inf); Nginx
  # says 0.000 for under a millisecond, so such a request is booked as half of one.
  $seconds > 0 {
    nginx_request_seconds = $seconds
  } else {
    nginx_request_seconds = 0.0005
  }
}
"""

# The Debian package's unit reads these; HOST keeps the endpoint on loopback (its default is
# every address), so no security group or firewall rule is involved.
MTAIL_DEFAULTS = """\
# Managed by app-host (the host tooling).
LOGS=/var/log/nginx/metrics.stream
HOST=127.0.0.1
PORT=3903
"""

# Back at once if it dies; the numbers are counters, so a restart only resets them.
MTAIL_DROP_IN = """\
# Managed by app-host (the host tooling).
[Service]
Restart=always
RestartSec=1s
"""

# The stream grows with traffic (about 10 bytes a request): rotated by size, one old file kept,
# and logrotate (a daily timer on Debian) runs every 10 minutes. Nginx reopens on USR1; mtail
# follows the new file. Not *.log, so Debian's own Nginx rule (daily, 14 kept) leaves it alone.
METRICS_LOGROTATE = """\
# Managed by app-host (the host tooling).
/var/log/nginx/metrics.stream {
    size 50M
    rotate 1
    missingok
    notifempty
    nocompress
    postrotate
        [ ! -s /run/nginx.pid ] || kill -USR1 "$(cat /run/nginx.pid)"
    endscript
}
"""

LOGROTATE_TIMER_DROP_IN = """\
# Managed by app-host (the host tooling).
[Timer]
OnCalendar=
OnCalendar=*:0/10
AccuracySec=1min
"""

HOST_FILES: dict[str, str] = {
    "/etc/nginx/nginx.conf": NGINX_CONF,
    "/etc/ssh/sshd_config.d/10-app-host.conf": SSHD_CONF,
    "/etc/mtail/nginx.mtail": MTAIL_PROGRAM,
    "/etc/default/mtail": MTAIL_DEFAULTS,
    "/etc/systemd/system/mtail.service.d/10-app-host.conf": MTAIL_DROP_IN,
    "/etc/logrotate.d/app-host-metrics": METRICS_LOGROTATE,
    "/etc/systemd/system/logrotate.timer.d/10-app-host.conf": LOGROTATE_TIMER_DROP_IN,
}


def install_host_files() -> None:
    for path, text in HOST_FILES.items():
        atomic_write(Path(path), text.encode(), mode=0o644)
