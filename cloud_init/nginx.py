"""Nginx configuration of an app host: the TLS-terminating reverse proxy in front of gunicorn."""

from __future__ import annotations

from fastapi_deploy.cloud_init.layout import ACME_RESPONDER_SOCKET, HostLayout
from fastapi_deploy.stack_model.host_spec import AcmeCertificates, AppHostSpec

__all__ = ["IDEMPOTENT_METHODS", "RESENDS", "render_site"]

# Nginx must drop idle upstream connections before gunicorn does, or a request can be sent on
# a connection gunicorn is closing. gunicorn's keepalive is set above this (see gunicorn.py).
UPSTREAM_KEEPALIVE_TIMEOUT_SECONDS = 15
# Nginx also retires a busy upstream connection after this long (after its current request).
# Both bounds are Nginx closing, never gunicorn: after a release switches slots, every
# connection to the old slot is gone within them, and the old app stops with none open
# (app_host.release.drain).
UPSTREAM_KEEPALIVE_TIME_SECONDS = 15

# Methods HTTP defines as idempotent (RFC 9110, 9.2.2), the same set Nginx's own
# proxy_next_upstream resends. POST and PATCH are never resent: the app may have acted on
# them before it died, so their clients get a clean 502 and decide for themselves.
IDEMPOTENT_METHODS = ("GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE")
# How often a broken idempotent request is sent again. More than one: right after a master's
# death its orphaned workers may still accept, and a resend landing there breaks again.
RESENDS = 2


def _resend_locations(upstream: str) -> str:
    """Named locations that resend an idempotent request after a broken upstream connection,
    each handing its own failure to the next (recursive_error_pages); the last one's 502
    goes to the client.

    A worker dying mid-request (a crash, kill -9, the OOM killer) breaks the upstream
    connection. Nginx resends by itself only a request that broke on a kept-alive connection
    (it takes that for an idle close), not one on a fresh connection. systemd keeps the
    socket open while the app restarts, so a resend waits in its queue for the new workers."""
    methods = "|".join(IDEMPOTENT_METHODS)
    blocks = []
    for attempt in range(1, RESENDS + 1):
        name = f"@{upstream}_resend" + ("" if attempt == 1 else f"_{attempt}")
        following = f"\n        error_page 502 = @{upstream}_resend_{attempt + 1};" if attempt < RESENDS else ""
        blocks.append(
            f"""
    location {name} {{
        if ($request_method !~ ^({methods})$) {{
            return 502;
        }}
        proxy_pass http://{upstream};{following}
    }}"""
        )
    return "".join(blocks) + "\n"


def render_site(spec: AppHostSpec, layout: HostLayout) -> str:
    """The app's server blocks: ACME + redirect on 80, TLS proxy on 443, and default servers
    that refuse any Host header not ours."""
    names = " ".join(spec.domains)
    upstream = f"{spec.app_name}_app"
    shared_acme = isinstance(spec.certificates, AcmeCertificates)
    # The fleet's challenges: a token this host did not write is asked of the store.
    challenge_store = "\n        error_page 404 = @acme_store;" if shared_acme else ""
    https_port = "" if spec.public_https_port == 443 else f":{spec.public_https_port}"
    challenge_location = (
        f"""

    location @acme_store {{
        # Each unknown token costs the responder a store read: a few per second per client
        # is plenty for a CA's validation servers and caps what anyone else can make it do.
        limit_req zone={upstream}_acme burst=10 nodelay;
        proxy_pass http://unix:{ACME_RESPONDER_SOCKET};
    }}"""
        if shared_acme
        else ""
    )
    challenge_zone = (
        f"""
limit_req_zone $binary_remote_addr zone={upstream}_acme:1m rate=5r/s;
"""
        if shared_acme
        else ""
    )
    resend_locations = _resend_locations(upstream)
    return f"""\
# Managed by the app-host user data; edits are lost when the host is replaced.
upstream {upstream} {{
    # One server: when a kept-alive connection turns out closed (an old worker going away
    # on reload), Nginx resends an idempotent request on another connection, as often as
    # needed; with several entries it would stop after trying each once. The path is a
    # symlink to the serving slot's socket, followed at each new connection: a release
    # switches it without reloading Nginx.
    server unix:{layout.app_socket};
    keepalive 16;
    keepalive_timeout {UPSTREAM_KEEPALIVE_TIMEOUT_SECONDS}s;
    keepalive_time {UPSTREAM_KEEPALIVE_TIME_SECONDS}s;
}}
{challenge_zone}
# The certificate pair, through variables (see ssl_certificate below).
map $ssl_server_name ${upstream}_certificate {{
    default {layout.live_certificate_dir}/fullchain.pem;
}}
map $ssl_server_name ${upstream}_certificate_key {{
    default {layout.live_certificate_dir}/privkey.pem;
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
        default_type text/plain;{challenge_store}
    }}{challenge_location}

    location / {{
        return 301 https://$host{https_port}$request_uri;
    }}
}}

server {{
    listen 443 ssl http2;
    listen [::]:443 ssl http2;
    server_name {names};

    # Variables make Nginx load the pair at each new handshake: a renewed certificate is in
    # use as soon as the tooling switches the symlink, with no reload (a reload closes idle
    # kept-alive connections, which clients that do not retry see as errors).
    ssl_certificate ${upstream}_certificate;
    ssl_certificate_key ${upstream}_certificate_key;

    add_header Strict-Transport-Security "max-age=63072000" always;
    add_header X-Content-Type-Options "nosniff" always;

    client_max_body_size {spec.max_body_size_mib}m;

    # Shared by the app's locations below.
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

    location / {{
        proxy_pass http://{upstream};
        # A worker died holding the request: resend it if idempotent.
        error_page 502 = @{upstream}_resend;
    }}
    recursive_error_pages on;
{resend_locations}}}
"""
