"""`app-host acme-responder`: answers ACME HTTP-01 challenges from the fleet's store.

Nginx sends `/.well-known/acme-challenge/<token>` here when the file is not in its own
webroot, so whichever host the CA's validation reaches answers what the ordering host put in
the store. Started by systemd on a Unix socket only Nginx's user may open, as an unprivileged
dynamic user holding the store's settings as a systemd credential.
"""

from __future__ import annotations

import http.server
import os
import re
import socket
from pathlib import Path
from typing import Any

from .config import HostConfig, StoreConfig
from .store import Store, StoreUnavailable, open_store
from .tls import TOKEN, challenge_key

__all__ = ["serve"]

_PATH = re.compile(r"^/\.well-known/acme-challenge/([^/?#]+)$")
_LISTEN_FD = 3  # the first socket systemd passes (sd_listen_fds)


class _Handler(http.server.BaseHTTPRequestHandler):
    store: Store
    config: HostConfig
    server_version = "app-host-acme-responder"
    sys_version = ""

    def address_string(self) -> str:
        return "nginx"  # a Unix socket peer has no address

    def do_GET(self) -> None:
        match = _PATH.match(self.path)
        if match is None or not TOKEN.match(match.group(1)):
            self._answer(404, b"not a challenge path\n")
            return
        try:
            validation = self.store.get(challenge_key(self.config, match.group(1)))
        except StoreUnavailable as error:
            self.log_message("store unreachable: %s", error)
            self._answer(503, b"store unreachable\n")
            return
        if validation is None:
            self._answer(404, b"no such challenge\n")
        else:
            self._answer(200, validation)

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, listening: socket.socket, handler: Any) -> None:
        super().__init__(("", 0), handler, bind_and_activate=False)
        self.socket.close()
        self.socket = listening


def serve(config: HostConfig) -> None:
    credentials = Path(os.environ.get("CREDENTIALS_DIRECTORY", "/etc/app-host"))
    store = open_store(StoreConfig.load(credentials / "store.conf"))
    if os.environ.get("LISTEN_FDS") != "1":
        raise SystemExit("acme-responder is started by its systemd socket (LISTEN_FDS=1)")
    listening = socket.socket(fileno=_LISTEN_FD)
    handler = type("Handler", (_Handler,), {"store": store, "config": config})
    _Server(listening, handler).serve_forever()
