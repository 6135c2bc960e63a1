"""Nginx configuration of an app host: the TLS-terminating reverse proxy in front of gunicorn."""

from __future__ import annotations

from fastapi_deploy.cloud_init.layout import HostLayout
from fastapi_deploy.stack_model.host_spec import AppHostSpec

__all__ = ["render_nginx_conf", "render_site"]

# Mozilla "intermediate" (guideline 6.0): TLS 1.2 + 1.3, forward-secret AEAD suites only.
_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
        "ECDHE-RSA-CHACHA20-POLY1305",
    )
)

# Nginx must drop idle upstream connections before gunicorn does, or a request can be sent on
# a connection gunicorn is closing. gunicorn's keepalive is set above this (see gunicorn.py).
UPSTREAM_KEEPALIVE_TIMEOUT_SECONDS = 30


def render_nginx_conf() -> str:
    """The whole /etc/nginx/nginx.conf: Debian's enables TLS 1.0/1.1 at http level, which a
    site file cannot override, so the host owns this file."""
    return f"""\
# Managed by the app-host user data; edits are lost when the host is replaced.
user www-data;
worker_processes auto;
# Each proxied request holds two descriptors (client and upstream).
worker_rlimit_nofile 8192;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log warn;
include /etc/nginx/modules-enabled/*.conf;

events {{
    worker_connections 1024;
}}

http {{
    sendfile on;
    tcp_nopush on;
    types_hash_max_size 2048;
    server_tokens off;
    include /etc/nginx/mime.types;
    default_type application/octet-stream;

    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_ciphers {_TLS12_CIPHERS};
    ssl_prefer_server_ciphers off;
    ssl_session_timeout 1d;
    ssl_session_cache shared:TLS:10m;
    # nginx < 1.23.2 never rotates ticket keys, which would undo forward secrecy.
    ssl_session_tickets off;

    # Rotated by the nginx package's logrotate policy.
    access_log /var/log/nginx/access.log;

    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}}
"""


def render_site(spec: AppHostSpec, layout: HostLayout) -> str:
    """The app's server blocks: ACME + redirect on 80, TLS proxy on 443, and default servers
    that refuse any Host header not ours."""
    names = " ".join(spec.domains)
    upstream = f"{spec.app_name}_app"
    return f"""\
# Managed by the app-host user data; edits are lost when the host is replaced.
upstream {upstream} {{
    # One server: when a kept-alive connection turns out closed (an old worker going away
    # on reload), Nginx resends an idempotent request on another connection, as often as
    # needed; with several entries it would stop after trying each once.
    server unix:{layout.app_socket};
    keepalive 16;
    keepalive_timeout {UPSTREAM_KEEPALIVE_TIMEOUT_SECONDS}s;
}}

# Upgrade only when the client asks; an empty Connection header keeps upstream keepalive.
map $http_upgrade $connection_upgrade {{
    default upgrade;
    '' '';
}}

# Requests for any other name are dropped without an answer.
server {{
    listen 80 default_server;
    listen [::]:80 default_server;
    server_name _;
    return 444;
}}

server {{
    listen 443 ssl http2 default_server;
    listen [::]:443 ssl http2 default_server;
    server_name _;
    ssl_reject_handshake on;
    # HTTP/2 may coalesce a request for another name onto a connection made for ours.
    location / {{
        return 421;
    }}
}}

server {{
    listen 80;
    listen [::]:80;
    server_name {names};

    location ^~ /.well-known/acme-challenge/ {{
        root {layout.acme_webroot};
        default_type text/plain;
    }}

    location / {{
        return 301 https://$host$request_uri;
    }}
}}

server {{
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name {names};

    ssl_certificate {layout.certificate_dir}/fullchain.pem;
    ssl_certificate_key {layout.certificate_dir}/privkey.pem;

    add_header Strict-Transport-Security "max-age=63072000" always;
    add_header X-Content-Type-Options "nosniff" always;

    client_max_body_size {spec.max_body_size_mib}m;

    location / {{
        proxy_pass http://{upstream};
        proxy_http_version 1.1;
        proxy_set_header Host $host;
        proxy_set_header Upgrade $http_upgrade;
        proxy_set_header Connection $connection_upgrade;
        # Nginx is the edge: it sets the client address instead of appending to one the
        # client could forge. gunicorn trusts these headers from the socket.
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;
        proxy_set_header X-Real-IP $remote_addr;
        proxy_redirect off;
        proxy_read_timeout {spec.app.timeout_seconds}s;
    }}
}}
"""
