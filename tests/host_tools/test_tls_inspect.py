"""The checks every certificate from the store passes before a host serves it, on pairs made
here: a CA, a leaf it signs, and the ways a pair can be wrong."""

from __future__ import annotations

import datetime
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import cast

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from fastapi_deploy.app_host.config import HostConfig
from fastapi_deploy.app_host.tls import (
    CertificateRefused,
    Inspected,
    StoreView,
    _self_check,
    inspect,
    order_reason,
)

NOW = datetime.datetime.now(datetime.UTC)
DOMAIN = "api.fleet.test"


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = _key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name("test root"))
        .issuer_name(_name("test root"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - datetime.timedelta(days=10))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def _leaf(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], names: list[str], days: tuple[int, int] = (-1, 90)) -> tuple[bytes, bytes]:
    ca_key, ca_certificate = ca
    key = _key()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(names[0]))
        .issuer_name(ca_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW + datetime.timedelta(days=days[0]))
        .not_valid_after(NOW + datetime.timedelta(days=days[1]))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name) for name in names]), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM), _pem(key)


@pytest.fixture
def trust(tmp_path: Path, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> Path:
    path = tmp_path / "trust.pem"
    path.write_bytes(ca[1].public_bytes(serialization.Encoding.PEM))
    return path


def test_a_good_pair_is_accepted(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], trust: Path) -> None:
    chain, key = _leaf(ca, [DOMAIN, "www.fleet.test"])
    checked = inspect(chain, key, (DOMAIN,), trust=trust)
    assert checked.names == (DOMAIN, "www.fleet.test") and checked.not_after > NOW


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda ca: (_leaf(ca, [DOMAIN], (-30, -1))), "it expired"),
        (lambda ca: (_leaf(ca, [DOMAIN], (1, 90))), "it is not valid before"),
        (lambda ca: (_leaf(ca, ["other.fleet.test"])), "it is for ['other.fleet.test'], not for ['api.fleet.test']"),
        (lambda ca: (_leaf(ca, [DOMAIN])[0], _pem(_key())), "the private key does not belong to the certificate"),
        (lambda ca: (b"not a certificate", _pem(_key())), "not a PEM certificate and key"),
    ],
)
def test_a_bad_pair_is_refused_with_the_reason(
    ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate], trust: Path, make: object, reason: str
) -> None:
    chain, key = make(ca)  # type: ignore[operator]
    with pytest.raises(CertificateRefused, match=reason.replace("[", r"\[").replace("]", r"\]")):
        inspect(chain, key, (DOMAIN,), trust=trust)


def test_a_pair_from_another_ca_is_refused(trust: Path) -> None:
    other_key = _key()
    other_ca = (
        x509.CertificateBuilder()
        .subject_name(_name("other root"))
        .issuer_name(_name("other root"))
        .public_key(other_key.public_key())
        .serial_number(2)
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(other_key, hashes.SHA256())
    )
    chain, key = _leaf((other_key, other_ca), [DOMAIN])
    with pytest.raises(CertificateRefused, match="its chain does not lead to a trusted root"):
        inspect(chain, key, (DOMAIN,), trust=trust)


class _Challenge(http.server.BaseHTTPRequestHandler):
    answer = b""  # set per test; empty means "not published yet" (404)

    def do_GET(self) -> None:
        body = type(self).answer
        self.send_response(200 if body else 404)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def challenge_server() -> Iterator[tuple[str, type[_Challenge]]]:
    handler = type("Handler", (_Challenge,), {"answer": b""})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/.well-known/acme-challenge/tok", handler
    finally:
        server.shutdown()


def test_the_self_check_waits_until_the_challenge_is_served(challenge_server: tuple[str, type[_Challenge]]) -> None:
    url, handler = challenge_server
    threading.Timer(1.5, lambda: setattr(handler, "answer", b"tok.thumbprint\n")).start()
    started = time.monotonic()
    assert _self_check(url, "tok.thumbprint", timeout_seconds=20)
    assert 1.5 <= time.monotonic() - started < 10


def test_the_self_check_gives_up_on_a_wrong_answer(
    challenge_server: tuple[str, type[_Challenge]], capsys: pytest.CaptureFixture[str]
) -> None:
    url, handler = challenge_server
    handler.answer = b"another.token"
    assert not _self_check(url, "tok.thumbprint", timeout_seconds=1)
    assert "a different answer" in capsys.readouterr().err


def test_the_self_check_does_not_wait_for_a_name_that_does_not_resolve() -> None:
    started = time.monotonic()
    assert not _self_check("http://no-such-name.invalid/.well-known/acme-challenge/tok", "tok.x", timeout_seconds=30)
    assert time.monotonic() - started < 10


# --- when the fleet orders -----------------------------------------------------------------


def _held(days_left: float) -> Inspected:
    now = datetime.datetime.now(datetime.UTC)
    return Inspected("abc", ("api.example.test",), now - datetime.timedelta(days=1), now + datetime.timedelta(days=days_left), b"", b"")


RENEW_WINDOW = SimpleNamespace(certificate_renew_days=30)


@pytest.mark.parametrize(
    ("view", "orders"),
    [
        (StoreView(reachable=True), "the store holds no certificate yet"),
        (StoreView(reachable=True, manifest={"serial": "abc"}, certificate=_held(60)), None),
        (StoreView(reachable=True, manifest={"serial": "abc"}, certificate=_held(10)), "expires on"),
        # This host cannot read the store: it never orders blind.
        (StoreView(reachable=False, refusal="bucket b: get tls/api/current.json: AccessDenied"), None),
        # Only this host's clock refuses it: not a reason to spend the CA's limit.
        (StoreView(reachable=True, manifest={"serial": "abc"}, refusal="it is not valid before 2026-11-26T00:00:00+00:00"), None),
        (StoreView(reachable=True, manifest={"serial": "abc"}, refusal="it is for ['old.example.test'], not for ['api.example.test']"), "unusable"),
        (StoreView(reachable=True, refusal="the store's current.json is not a certificate manifest"), "unusable"),
    ],
    ids=["empty", "valid", "due", "unreachable", "clock", "other-names", "corrupt-manifest"],
)
def test_the_fleet_orders_on_what_the_store_holds_not_on_this_host_alone(view: StoreView, orders: str | None) -> None:
    reason = order_reason(view, cast(HostConfig, RENEW_WINDOW))
    if orders is None:
        assert reason is None
    else:
        assert reason is not None and orders in reason
