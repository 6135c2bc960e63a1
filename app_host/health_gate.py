"""`app-host health-gate`: a TCP port that is open only while this host's app answers.

The CLB's listeners are TCP (TLS ends on the hosts), so its health check can only try a TCP
handshake. Checking 443 says nothing about the app: Nginx accepts there even when the app is
dead and every request gets a 502. So the CLB checks this port instead, and the gate listens
on it only while the app answers through Nginx, the same path users take.

Liveness, not readiness: the probe asks the app's liveness path (appLivenessPath; the
readiness path when an app has none) and counts any answer from the app as alive, 503
included (the database away is the same for every host, and taking them all out would turn a
degraded service into none). A readiness path that waits on a hanging database can exceed
the probe's timeout on every host at once, hence the separate liveness path. What counts as dead is what Nginx says when
it cannot get an answer from the app (502, 504), no answer within the timeout, or no TLS
handshake at all.
"""

from __future__ import annotations

import http.client
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from .config import HostConfig
from .system import log

__all__ = ["Gate", "GateSettings", "answered_by_app", "probe_app", "serve"]

# Nginx's own answers when the upstream gave none: connection refused or broken (502) and
# no answer in time (504).
_PROXY_FAILURES = frozenset({502, 504})


@dataclass(frozen=True)
class GateSettings:
    """How often to probe and how many probes in a row open or close the gate."""

    interval_seconds: float = 1.0
    timeout_seconds: float = 2.0
    # Three failures in a row (about 3 s): a single slow answer does not drop the host.
    fall: int = 3
    rise: int = 2


def answered_by_app(status: int) -> bool:
    """Whether an HTTP status came from the app rather than from Nginx failing to reach it."""
    return status not in _PROXY_FAILURES


def probe_app(domain: str, path: str, timeout_seconds: float, address: str = "127.0.0.1", port: int = 443) -> bool:
    """One request to the app through Nginx on this host. The certificate is not checked:
    this asks whether the app answers, and the placeholder before the first real
    certificate is as good for that."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    # SNI and Host name the app's site: Nginx refuses the handshake for any other name.
    connection = http.client.HTTPConnection(domain, port, timeout=timeout_seconds)
    try:
        connection.sock = context.wrap_socket(
            socket.create_connection((address, port), timeout=timeout_seconds), server_hostname=domain
        )
        connection.putrequest("GET", path, skip_host=True)
        connection.putheader("Host", domain)
        connection.putheader("User-Agent", "app-host-health-gate")
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return answered_by_app(response.status)
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


class Gate:
    """The listening socket, opened and closed as probes pass and fail."""

    def __init__(self, port: int, settings: GateSettings, probe: Callable[[], bool]) -> None:
        self.port = port
        self.settings = settings
        self.probe = probe
        self.listener: socket.socket | None = None
        self._streak = 0  # probes in a row that disagree with the gate's state

    @property
    def is_open(self) -> bool:
        return self.listener is not None

    def step(self) -> None:
        """Probe once and open or close the gate once enough probes in a row agree."""
        alive = self.probe()
        if alive == self.is_open:
            self._streak = 0
            return
        self._streak += 1
        if alive and self._streak >= self.settings.rise:
            self._open()
        elif not alive and self._streak >= self.settings.fall:
            self._close()

    def _open(self) -> None:
        listener = socket.create_server(("", self.port), family=socket.AF_INET6, dualstack_ipv6=True, backlog=64)
        listener.setblocking(False)
        self.listener = listener
        self._streak = 0
        log(f"the app answers: port {self.port} open, the load balancer sends this host traffic")

    def _close(self) -> None:
        if self.listener is not None:
            self.listener.close()
        self.listener = None
        self._streak = 0
        log(f"the app does not answer: port {self.port} closed, the load balancer takes this host out")

    def drain(self, seconds: float) -> None:
        """Accept and close health-check connections (the handshake is the whole check) until
        `seconds` have passed."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self.listener is None:
                time.sleep(left)
                return
            ready, _, _ = select.select([self.listener], [], [], left)
            if ready:
                try:
                    connection, _ = self.listener.accept()
                except BlockingIOError:
                    continue
                connection.close()

    def run(self) -> None:
        while True:
            started = time.monotonic()
            self.step()
            self.drain(self.settings.interval_seconds - (time.monotonic() - started))


def serve(config: HostConfig) -> None:
    if not config.health_gate_port:
        raise SystemExit("app-host health-gate: this host is not behind a load balancer (no HEALTH_GATE_PORT)")
    settings = GateSettings()
    domain, path = config.primary_domain, config.health_probe_path

    def probe() -> bool:
        return probe_app(domain, path, settings.timeout_seconds)

    Gate(config.health_gate_port, settings, probe).run()
