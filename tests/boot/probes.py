"""Client-side probes for booted hosts: HTTPS to a domain pinned to a test address (no DNS
needed), the certificate a host serves, and a bounded concurrent load."""

from __future__ import annotations

import http.client
import re
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509

__all__ = [
    "LoadResult",
    "PinnedHttps",
    "bounded_load",
    "prometheus_series",
    "served_certificate",
    "wrk",
    "wrk_failures",
    "wrk_p99_ms",
]


class _PinnedConnection(http.client.HTTPSConnection):
    """HTTPS to `host` (SNI, Host header, certificate name) over a TCP connection to
    `address`: what a client resolving the domain to that address does."""

    def __init__(self, host: str, address: str, context: ssl.SSLContext, timeout: float, port: int = 443) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._address = address
        self._tls_context = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls_context.wrap_socket(raw, server_hostname=self.host)


@dataclass
class PinnedHttps:
    """Requests to https://<domain> sent to `address`, trusting only `ca_pem` (or nothing
    when None, for self-signed hosts)."""

    domain: str
    address: str
    ca_pem: str | None
    timeout: float = 10.0
    port: int = 443

    def context(self) -> ssl.SSLContext:
        if self.ca_pem is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            return context
        return ssl.create_default_context(cadata=self.ca_pem)

    def connection(self) -> http.client.HTTPSConnection:
        return _PinnedConnection(self.domain, self.address, self.context(), self.timeout, self.port)

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = self.connection()
        try:
            connection.request(method, path, body=body, headers=headers or {})
            response = connection.getresponse()
            return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
        finally:
            connection.close()

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        return self.request("GET", path, headers=headers)


def http_get(address: str, host: str, path: str, timeout: float = 10.0, port: int = 80) -> tuple[int, dict[str, str], bytes]:
    """Plain HTTP (port 80 unless told) with a chosen Host header."""
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": host})
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def served_certificate(domain: str, address: str, port: int = 443) -> x509.Certificate:
    """The leaf certificate the host presents for `domain` (not verified)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with (
        socket.create_connection((address, port), 10) as raw,
        context.wrap_socket(raw, server_hostname=domain) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der)


@dataclass
class LoadResult:
    statuses: Counter[Any] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    # GETs resent on a new connection because an idle keep-alive connection was closed by the
    # server before it read them (RFC 9112 9.3.1: what browsers and HTTP libraries do).
    stale_connection_retries: int = 0

    @property
    def total(self) -> int:
        return sum(self.statuses.values())

    @property
    def failures(self) -> int:
        return self.total - self.statuses[200]


_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def bounded_load(client: PinnedHttps, path: str, *, clients: int, seconds: float, max_requests: int) -> tuple[LoadResult, threading.Event, threading.Thread]:
    """Start `clients` keep-alive loops against `path`; they stop after `seconds` or
    `max_requests` in all, whichever comes first. Returns the result, a stop event and the
    thread to join. A request fails if it gets no 200; the only resend is that of a GET on a
    reused connection the server closed as idle, and a resend that fails is a failure."""
    result = LoadResult()
    stop = threading.Event()
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def send(connection: http.client.HTTPSConnection) -> int:
        connection.request("GET", path)
        response = connection.getresponse()
        response.read()
        return response.status

    def one_client() -> None:
        connection = client.connection()
        reused = False
        while not stop.is_set() and time.monotonic() < deadline:
            with lock:
                if result.total >= max_requests:
                    break
            status: Any
            try:
                try:
                    status = send(connection)
                except _STALE:
                    if not reused:
                        raise
                    connection.close()
                    connection = client.connection()
                    with lock:
                        result.stale_connection_retries += 1
                    status = send(connection)
                reused = True
            except (OSError, http.client.HTTPException) as error:
                status = type(error).__name__
                with lock:
                    result.errors.append(repr(error))
                connection.close()
                connection = client.connection()
                reused = False
            with lock:
                result.statuses[status] += 1
        connection.close()

    def run_all() -> None:
        workers = [threading.Thread(target=one_client, daemon=True) for _ in range(clients)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()

    runner = threading.Thread(target=run_all, daemon=True)
    runner.start()
    return result, stop, runner


def wrk(url: str, seconds: int, timeout_seconds: int = 2) -> subprocess.Popen[str]:
    """wrk with 32 keep-alive connections on 2 threads (it does not verify certificates);
    a request unanswered after `timeout_seconds` (wrk's default: 2) counts as a timeout.
    Read its report with wrk_failures."""
    return subprocess.Popen(
        ["wrk", "-t2", "-c32", f"-d{seconds}s", f"--timeout={timeout_seconds}s", "--latency", url],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wrk_failures(output: str) -> tuple[int, int]:
    """(requests, failed) from wrk's report: socket errors plus non-2xx/3xx answers."""
    requests = int(re.search(r"(\d+) requests in", output).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    failed = (sum(int(value) for value in errors.groups()) if errors else 0) + (int(non_2xx.group(1)) if non_2xx else 0)
    return requests, failed


_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def wrk_p99_ms(output: str) -> float:
    """The 99th percentile latency of wrk's --latency report, in milliseconds."""
    match = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.MULTILINE)
    assert match, output
    return float(match.group(1)) * _UNITS_MS[match.group(2)]


def prometheus_series(text: str, prefix: str = "nginx_") -> dict[str, float]:
    """A Prometheus text page -> {series with its labels, mtail's prog label dropped: value},
    for the series named `prefix`*."""
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith(prefix):
            series, _, value = line.rpartition(" ")
            values[re.sub(r'prog="[^"]*",?', "", series).replace("{}", "")] = float(value)
    return values
