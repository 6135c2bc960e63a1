"""One trusted certificate for the whole fleet, issued once, shared through the store.

Like CertMagic's clustering, with the stack's own parts: the bucket holds the certificate
and the ACME challenges, a Postgres advisory lock elects the one host that orders. Any host
answers an HTTP-01 challenge (Nginx asks the acme-responder, which reads the store), so it
does not matter which host the load balancer sends the CA's validation to.

    sync     install the store's certificate if it is valid and newer (a timer, every minute)
    renew    if there is none, or it is within the renewal window, take the lock and order one
             with Certbot, publish it, install it (at boot with --wait; a timer otherwise)

Nginx reads the certificate through variables, so it loads the files at each new TLS
handshake: installing is an atomic switch of one symlink, and no reload ever drops a
kept-alive connection. Every certificate read from the store is checked before it is used:
its digest, its names, its dates, its chain to a trusted root and its key; a refused one is
logged and the host keeps what it serves.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import TOOL, HostConfig, StoreConfig
from .locks import LockTimeout, advisory_lock, database_url_from_env_file, lock_key
from .store import Store, StoreUnavailable, open_store
from .system import CommandFailed, atomic_write, log, run, warn

__all__ = [
    "CertificateRefused",
    "Inspected",
    "auth_hook",
    "cleanup_hook",
    "inspect",
    "install",
    "installed",
    "placeholder",
    "renew",
    "self_signed",
    "sync",
]

STATE_DIR = Path("/var/lib/app-host/tls")
CERTBOT_DIR = Path("/var/lib/app-host/certbot")
SYSTEM_TRUST = Path("/etc/ssl/certs/ca-certificates.crt")
# ACME tokens are base64url (RFC 8555, section 8.3).
TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
PLACEHOLDER = "placeholder"
# How long the auth hook waits to see its challenge through the public name before it lets
# the CA try anyway. A balancer adds a host only after a few passing health checks, so the
# first host's answer may not be reachable the moment it is published; a validation that
# fails burns an order and counts against the CA's failed-validation limit.
SELF_CHECK_SECONDS = 90


class CertificateRefused(Exception):
    """A certificate that must not be served: the message says why."""


@dataclass(frozen=True)
class Inspected:
    """What a certificate pair is, once checked."""

    serial: str
    names: tuple[str, ...]
    not_before: datetime.datetime
    not_after: datetime.datetime
    fullchain: bytes
    key: bytes

    def manifest(self, issued_by: str) -> dict[str, Any]:
        return {
            "serial": self.serial,
            "names": list(self.names),
            "not_after": self.not_after.isoformat(),
            "fullchain_sha256": hashlib.sha256(self.fullchain).hexdigest(),
            "privkey_sha256": hashlib.sha256(self.key).hexdigest(),
            "issued_by": issued_by,
        }


def _utc(value: datetime.datetime) -> datetime.datetime:
    return value if value.tzinfo else value.replace(tzinfo=datetime.UTC)


def _validity(certificate: Any) -> tuple[datetime.datetime, datetime.datetime]:
    # cryptography >= 42 has the *_utc attributes; Debian 12's 38 only the naive ones.
    before = getattr(certificate, "not_valid_before_utc", None) or certificate.not_valid_before
    after = getattr(certificate, "not_valid_after_utc", None) or certificate.not_valid_after
    return _utc(before), _utc(after)


def inspect(
    fullchain: bytes,
    key: bytes,
    domains: tuple[str, ...],
    *,
    trust: Path | None,
    now: datetime.datetime | None = None,
) -> Inspected:
    """Check a certificate pair for this host; raise CertificateRefused saying why not.
    `trust` is a PEM file of trusted roots (None skips the chain check: self-signed)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    now = now or datetime.datetime.now(datetime.UTC)
    try:
        chain = x509.load_pem_x509_certificates(fullchain) if hasattr(x509, "load_pem_x509_certificates") else [x509.load_pem_x509_certificate(fullchain)]
        leaf = chain[0]
        private_key = serialization.load_pem_private_key(key, password=None)
    except (ValueError, TypeError, IndexError) as error:
        raise CertificateRefused(f"not a PEM certificate and key ({error})") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    encoding = serialization.Encoding.DER
    if leaf.public_key().public_bytes(encoding, public) != private_key.public_key().public_bytes(encoding, public):
        raise CertificateRefused("the private key does not belong to the certificate")
    try:
        names = tuple(
            leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
        )
    except x509.ExtensionNotFound:
        names = ()
    missing = [domain for domain in domains if domain not in names]
    if missing:
        raise CertificateRefused(f"it is for {list(names)}, not for {missing}")
    not_before, not_after = _validity(leaf)
    if not_after <= now:
        raise CertificateRefused(f"it expired on {not_after.isoformat()}")
    if not_before > now:
        raise CertificateRefused(f"it is not valid before {not_before.isoformat()}")
    if trust is not None:
        _verify_chain(fullchain, trust)
    return Inspected(format(leaf.serial_number, "x"), names, not_before, not_after, fullchain, key)


def _verify_chain(fullchain: bytes, trust: Path) -> None:
    """The leaf chains to a trusted root through the intermediates that come with it, and is
    fit for a TLS server (openssl verify: signatures, validity, purpose)."""
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", fullchain, re.S)
    with tempfile.TemporaryDirectory(prefix="app-host-verify-") as scratch:
        leaf, untrusted = Path(scratch) / "leaf.pem", Path(scratch) / "chain.pem"
        leaf.write_bytes(blocks[0])
        untrusted.write_bytes(b"".join(blocks[1:]) or blocks[0])
        result = subprocess.run(
            ["openssl", "verify", "-purpose", "sslserver", "-CAfile", str(trust), "-untrusted", str(untrusted), str(leaf)],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        reason = (result.stdout + result.stderr).strip().splitlines()
        raise CertificateRefused(f"its chain does not lead to a trusted root ({reason[-1] if reason else 'openssl verify failed'})")


def _trust(config: HostConfig) -> Path:
    """The system's roots plus the stack's own CA bundle (a private ACME CA)."""
    if not config.acme_ca_bundle:
        return SYSTEM_TRUST
    combined = STATE_DIR / "trust.pem"
    parts = [SYSTEM_TRUST.read_bytes() if SYSTEM_TRUST.exists() else b"", Path(config.acme_ca_bundle).read_bytes()]
    atomic_write(combined, b"\n".join(parts), mode=0o644)
    return combined


# --- what this host serves ------------------------------------------------------------------------


def _live(config: HostConfig) -> Path:
    return config.certificate_dir / "current"


def installed(config: HostConfig) -> str | None:
    """The serial this host serves ('placeholder' for the stand-in), or None, also when the
    link points at files that are gone (Nginx would fail every handshake: reinstall)."""
    target = _live(config)
    if not target.is_symlink() or not all((target / name).is_file() for name in ("fullchain.pem", "privkey.pem")):
        return None
    return target.resolve().name


@contextlib.contextmanager
def _host_lock() -> Iterator[None]:
    """One installer at a time on this host (the sync and renew timers can overlap)."""
    STATE_DIR.mkdir(parents=True, exist_ok=True)
    with open(STATE_DIR / ".install.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def install(config: HostConfig, serial: str, fullchain: bytes, key: bytes) -> None:
    """Put the pair in place and switch Nginx to it with one atomic rename. Nginx's workers
    (www-data) read the files at each handshake, so the key is readable by that group only;
    the workers hold the key in memory anyway."""
    with _host_lock():
        directory = STATE_DIR / serial
        directory.mkdir(parents=True, exist_ok=True)
        for path in (STATE_DIR, directory):
            os.chmod(path, 0o750)
            shutil.chown(path, "root", "www-data")
        atomic_write(directory / "fullchain.pem", fullchain, mode=0o644)
        atomic_write(directory / "privkey.pem", key, mode=0o640, group="www-data")
        config.certificate_dir.mkdir(mode=0o755, parents=True, exist_ok=True)
        partial = config.certificate_dir / f".current.{os.getpid()}.new"
        partial.unlink(missing_ok=True)
        partial.symlink_to(directory)
        os.replace(partial, _live(config))
        _forget_old(keep={serial})


def _forget_old(keep: set[str]) -> None:
    """Keep the installed pair and the newest previous one; remove the rest."""
    pairs = sorted(
        (path for path in STATE_DIR.iterdir() if path.is_dir() and path.name not in keep),
        key=lambda path: path.stat().st_mtime,
        reverse=True,
    )
    for path in pairs[1:]:
        shutil.rmtree(path, ignore_errors=True)


def self_signed(config: HostConfig, days: int, serial: str) -> None:
    """A self-signed ECDSA pair for the host's names, installed under `serial`."""
    with tempfile.TemporaryDirectory(prefix="app-host-self-signed-") as scratch:
        key, chain = Path(scratch) / "privkey.pem", Path(scratch) / "fullchain.pem"
        names = ",".join(f"DNS:{name}" for name in config.domains)
        run(
            [
                "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                "-nodes", "-days", str(days), "-subj", f"/CN={config.primary_domain}",
                "-addext", f"subjectAltName={names}", "-keyout", str(key), "-out", str(chain),
            ],
            quiet=True,
        )  # fmt: skip
        install(config, serial, chain.read_bytes(), key.read_bytes())


def placeholder(config: HostConfig) -> None:
    """A two-day stand-in so Nginx can start before the real certificate exists; never
    installed over a certificate this host already has."""
    if installed(config) is None:
        log("no certificate yet: installing a two-day placeholder")
        self_signed(config, 2, PLACEHOLDER)


# --- the shared store ---------------------------------------------------------------------------------


def _prefix(config: HostConfig) -> str:
    return f"tls/{config.app_name}"


def challenge_key(config: HostConfig, token: str) -> str:
    """Where an HTTP-01 answer waits in the store: written by the hooks, read by every host's
    responder."""
    return f"{_prefix(config)}/challenges/{token}"


def _current(store: Store, config: HostConfig) -> dict[str, Any] | None:
    data = store.get(f"{_prefix(config)}/current.json")
    if data is None:
        return None
    try:
        manifest = json.loads(data)
        str(manifest["serial"])
    except (ValueError, KeyError, TypeError):
        raise CertificateRefused("the store's current.json is not a certificate manifest") from None
    return dict(manifest)


def _from_store(store: Store, config: HostConfig, manifest: dict[str, Any]) -> Inspected:
    serial = str(manifest["serial"])
    if not re.fullmatch(r"[0-9a-f]{1,64}", serial):
        raise CertificateRefused(f"serial {serial!r} is not a hex serial")
    base = f"{_prefix(config)}/certificates/{serial}"
    fullchain, key = store.get(f"{base}/fullchain.pem"), store.get(f"{base}/privkey.pem")
    if fullchain is None or key is None:
        raise CertificateRefused(f"the store names serial {serial} but does not hold its files")
    for label, data in (("fullchain", fullchain), ("privkey", key)):
        if hashlib.sha256(data).hexdigest() != manifest.get(f"{label}_sha256"):
            raise CertificateRefused(f"{label}.pem of serial {serial} does not match the manifest's digest")
    checked = inspect(fullchain, key, config.domains, trust=_trust(config))
    if checked.serial != serial:
        raise CertificateRefused(f"the manifest says serial {serial}, the certificate is {checked.serial}")
    return checked


def _publish(store: Store, config: HostConfig, certificate: Inspected) -> None:
    """Files first, the manifest last: a reader sees a complete pair or the previous one."""
    base = f"{_prefix(config)}/certificates/{certificate.serial}"
    store.put(f"{base}/fullchain.pem", certificate.fullchain, "application/x-pem-file")
    store.put(f"{base}/privkey.pem", certificate.key, "application/x-pem-file")
    manifest = certificate.manifest(socket.gethostname())
    store.put(f"{_prefix(config)}/current.json", json.dumps(manifest, indent=2).encode(), "application/json")
    log(f"published serial {certificate.serial} (valid until {certificate.not_after.date()}) to the store")


def _installed_inspected(config: HostConfig) -> Inspected | None:
    serial = installed(config)
    if serial in (None, PLACEHOLDER):
        return None
    live = _live(config)
    try:
        return inspect((live / "fullchain.pem").read_bytes(), (live / "privkey.pem").read_bytes(), config.domains, trust=None)
    except (OSError, CertificateRefused):
        return None


@dataclass(frozen=True)
class StoreView:
    """What the fleet's store says about its certificate, as this host can tell."""

    reachable: bool
    manifest: dict[str, Any] | None = None
    certificate: Inspected | None = None
    refusal: str | None = None  # why the store's certificate cannot be used, if it cannot


def store_view(store: Store, config: HostConfig) -> StoreView:
    """One read of the store: its manifest and, checked, the pair it names. When that pair is
    the one this host already serves, the host's copy stands in for a second download."""
    manifest: dict[str, Any] | None = None
    try:
        manifest = _current(store, config)
        if manifest is None:
            return StoreView(reachable=True)
        in_use = _installed_inspected(config)
        if in_use is not None and in_use.serial == manifest["serial"]:
            return StoreView(reachable=True, manifest=manifest, certificate=in_use)
        return StoreView(reachable=True, manifest=manifest, certificate=_from_store(store, config, manifest))
    except StoreUnavailable as error:
        return StoreView(reachable=False, refusal=str(error))
    except CertificateRefused as error:
        return StoreView(reachable=True, manifest=manifest, refusal=str(error))


def sync(config: HostConfig, store: Store, view: StoreView | None = None) -> bool:
    """Install the store's certificate if it is valid and newer than the one in use. True when
    this host then serves a real certificate. Every refusal keeps what the host serves.
    `view` is a read the caller already made."""
    view = view or store_view(store, config)
    current = installed(config)
    candidate = view.certificate
    if candidate is None:
        if not view.reachable:
            warn(f"store unreachable ({view.refusal}); keeping {current or 'no certificate'}")
        elif view.refusal is not None and view.manifest is None:
            warn(f"refused the store's certificate: {view.refusal}; keeping {current}")
        elif view.refusal is not None and view.manifest is not None:
            warn(f"refused serial {view.manifest.get('serial')} from the store: {view.refusal}; keeping {current}")
        else:
            log("the store holds no certificate yet")
        return _installed_inspected(config) is not None
    if candidate.serial == current:
        return True
    in_use = _installed_inspected(config)
    if in_use is not None and candidate.not_after < in_use.not_after:
        warn(f"refused serial {candidate.serial}: it expires before the one in use ({in_use.serial}); keeping {current}")
        return True
    install(config, candidate.serial, candidate.fullchain, candidate.key)
    log(f"installed serial {candidate.serial} for {', '.join(candidate.names)} (valid until {candidate.not_after.date()})")
    return True


def order_reason(view: StoreView, config: HostConfig, now: datetime.datetime | None = None) -> str | None:
    """Why the fleet needs a new certificate, judged from the store (the fleet's copy), not
    from what this host happens to serve; None when it does not. A store this host cannot
    read, or a certificate only this host's clock refuses, is never a reason: ordering on a
    host-local problem every half hour would spend the CA's weekly limit for the names."""
    now = now or datetime.datetime.now(datetime.UTC)
    if not view.reachable:
        return None
    if view.certificate is not None:
        left = view.certificate.not_after - now
        if left <= datetime.timedelta(days=config.certificate_renew_days):
            return f"serial {view.certificate.serial} expires on {view.certificate.not_after.date()}, within {config.certificate_renew_days} days"
        return None
    if view.manifest is None and view.refusal is None:
        return "the store holds no certificate yet"
    if view.refusal and "not valid before" in view.refusal:
        return None
    return f"the store's certificate is unusable: {view.refusal}"


# Orders that failed (DNS not pointing here yet, the CA down) are not retried by any host for
# this long: the CA allows 5 failed validations per name per hour.
ORDER_FAILURE_BACKOFF = datetime.timedelta(hours=1)


def _last_failure(store: Store, config: HostConfig) -> datetime.datetime | None:
    data = store.get(f"{_prefix(config)}/last-failure.json")
    if data is None:
        return None
    try:
        return _utc(datetime.datetime.fromisoformat(json.loads(data)["at"]))
    except (ValueError, KeyError, TypeError):
        return None


def _record_failure(store: Store, config: HostConfig, error: Exception) -> None:
    record = {"at": datetime.datetime.now(datetime.UTC).isoformat(), "host": socket.gethostname(), "error": str(error)[-500:]}
    try:
        store.put(f"{_prefix(config)}/last-failure.json", json.dumps(record, indent=2).encode(), "application/json")
    except StoreUnavailable as unavailable:
        warn(f"could not record the failed order in the store: {unavailable}")


def _existing_lineage(config: HostConfig) -> Inspected | None:
    """Certbot's last certificate on this host, if it is still good: an order that
    succeeded but could not be published is published from here, not ordered again."""
    live = CERTBOT_DIR / "live" / config.app_name
    try:
        return inspect((live / "fullchain.pem").read_bytes(), (live / "privkey.pem").read_bytes(), config.domains, trust=_trust(config))
    except (OSError, CertificateRefused):
        return None


def renew(config: HostConfig, *, wait_seconds: float = 0, force: bool = False) -> None:
    """Make sure the fleet has a valid certificate, ordering one when the store has none
    valid beyond the renewal window (or with `force`), by one host at a time."""
    store = open_store(StoreConfig.load())
    view = store_view(store, config)
    sync(config, store, view)
    reason = "forced" if force else order_reason(view, config)
    if reason is None:
        if not view.reachable:
            warn(f"store unreachable ({view.refusal}); not ordering blind, keeping {installed(config)}")
        elif view.refusal:
            warn(f"this host refuses the store's certificate ({view.refusal}); check its clock and CA bundle")
        else:
            log("the fleet's certificate is not due for renewal")
        return
    url = database_url_from_env_file(config.env_file)
    try:
        with advisory_lock(url, lock_key(f"{config.app_name}:tls"), wait_seconds=wait_seconds):
            # While this host waited, the issuer may have published one, or failed.
            view = store_view(store, config)
            sync(config, store, view)
            if not force:
                reason = order_reason(view, config)
                if reason is None:
                    log("another host published a certificate; nothing to order")
                    return
                failed = _last_failure(store, config)
                if failed is not None and datetime.datetime.now(datetime.UTC) - failed < ORDER_FAILURE_BACKOFF:
                    warn(f"an order failed at {failed.isoformat()}; the next try waits until {(failed + ORDER_FAILURE_BACKOFF).isoformat()}")
                    return
                lineage = _existing_lineage(config)
                if lineage is not None and order_reason(StoreView(True, {}, lineage), config) is None:
                    log(f"publishing serial {lineage.serial}, ordered here before but not yet in the store")
                    install(config, lineage.serial, lineage.fullchain, lineage.key)
                    _publish(store, config, lineage)
                    return
            log(f"ordering a certificate: {reason}")
            try:
                certificate = _order(config)
            except (CommandFailed, CertificateRefused, subprocess.TimeoutExpired) as error:
                _record_failure(store, config, error)
                raise
            # Serve it first: a store that fails now loses nothing, the next run publishes it.
            install(config, certificate.serial, certificate.fullchain, certificate.key)
            log(f"installed serial {certificate.serial}")
            _publish(store, config, certificate)
    except LockTimeout:
        log("another host is ordering the certificate; this host picks it up from the store")


def _certbot_environment(config: HostConfig) -> dict[str, str]:
    env = dict(os.environ)
    if config.acme_ca_bundle:
        env["REQUESTS_CA_BUNDLE"] = config.acme_ca_bundle
    return env


def _order(config: HostConfig) -> Inspected:
    """One ACME order through Certbot: HTTP-01 answered from the store by whichever host the
    CA's validation reaches. Certbot's own state stays in its directory on this host; the
    store's copy is the fleet's."""
    domains = [argument for name in config.domains for argument in ("--domain", name)]
    run(
        [
            "certbot", "certonly", "--non-interactive", "--agree-tos", "--email", config.acme_email,
            "--server", config.acme_directory, "--manual", "--preferred-challenges", "http",
            "--manual-auth-hook", f"{TOOL} tls auth-hook", "--manual-cleanup-hook", f"{TOOL} tls cleanup-hook",
            "--cert-name", config.app_name, "--key-type", "ecdsa", "--force-renewal", *domains,
            "--config-dir", str(CERTBOT_DIR), "--work-dir", str(CERTBOT_DIR / "work"),
            "--logs-dir", "/var/log/app-host-certbot",
        ],
        env=_certbot_environment(config),
        timeout=600,
    )  # fmt: skip
    live = CERTBOT_DIR / "live" / config.app_name
    return inspect(
        (live / "fullchain.pem").read_bytes(), (live / "privkey.pem").read_bytes(), config.domains, trust=_trust(config)
    )


def _challenge(config: HostConfig) -> tuple[str, str]:
    token, validation = os.environ.get("CERTBOT_TOKEN", ""), os.environ.get("CERTBOT_VALIDATION", "")
    if not TOKEN.match(token) or not validation:
        raise SystemExit("tls auth-hook runs as Certbot's manual hook, which sets CERTBOT_TOKEN and CERTBOT_VALIDATION")
    return token, validation


def auth_hook(config: HostConfig) -> None:
    """Certbot's manual auth hook: the challenge goes to the store, where every host's
    responder finds it, and to this host's webroot."""
    token, validation = _challenge(config)
    store = open_store(StoreConfig.load())
    store.put(challenge_key(config, token), validation.encode(), "text/plain")
    atomic_write(config.acme_webroot / ".well-known" / "acme-challenge" / token, validation.encode())
    log(f"challenge {token[:12]}... published for the fleet")
    domain = os.environ.get("CERTBOT_DOMAIN", config.domains[0])
    # Certbot calls the hook once per name within its own timeout: the names share the wait.
    budget = SELF_CHECK_SECONDS / max(1, len(config.domains))
    _self_check(f"http://{domain}/.well-known/acme-challenge/{token}", validation, budget)


def _self_check(url: str, validation: str, timeout_seconds: float) -> bool:
    """Wait until `url` (the path the CA will take: public name, balancer, any host) answers
    `validation`, as cert-manager does before it asks for validation. False after the
    timeout; the caller goes on, since some networks cannot reach their own public address."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    deadline = time.monotonic() + timeout_seconds
    seen = "nothing yet"
    while True:
        try:
            with opener.open(url, timeout=5) as response:
                body = response.read(4096).decode(errors="replace").strip()
            if body == validation:
                log(f"challenge reachable at {url}")
                return True
            seen = "a different answer"
        except Exception as error:  # advisory only: no answer here must stop the order
            reason = getattr(error, "reason", error)
            if isinstance(reason, socket.gaierror):
                # Waiting does not make a name resolve here; the CA may still resolve it.
                warn(f"cannot resolve the name in {url} from this host ({reason}); asking the CA anyway")
                return False
            seen = str(reason)
        if time.monotonic() >= deadline:
            warn(f"challenge not seen at {url} after {timeout_seconds:.0f}s ({seen}); asking the CA anyway")
            return False
        time.sleep(2)


def cleanup_hook(config: HostConfig) -> None:
    token, _ = _challenge(config)
    try:
        open_store(StoreConfig.load()).delete(challenge_key(config, token))
    except StoreUnavailable as error:
        warn(f"could not remove challenge {token[:12]}... from the store: {error}")
    (config.acme_webroot / ".well-known" / "acme-challenge" / token).unlink(missing_ok=True)
