"""App-host specs shared by the unit, render and boot tests."""

from __future__ import annotations

import functools
from typing import Any

from fastapi_deploy.stack_model import (
    AcmeCertificates,
    AppHostSpec,
    AppSpec,
    ArtifactRef,
    Capacity,
    S3StoreSpec,
    SelfSignedCertificates,
)

# A real ed25519 public key (throwaway, no private key kept anywhere).
ADMIN_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOq4aEt67xZrTi4i1r2kYFBea+nD2McttE6fVJKiTsHK ops@example"
)

# The sample app's archive as a spec names it (the digest of the bytes "sample app").
SAMPLE_PACKAGE = ArtifactRef(
    name="app-src.tar.gz", sha256="1a5cf1dfe8d1e6155e64f1ed1a0a4c0fdb7df2b92e7f8bd15ce8dd1b8d7e4b8e"
)
SAMPLE_STORE = S3StoreSpec(
    endpoint_url="https://tos-s3-cn-beijing.ivolces.com",
    bucket="notes-files",
    region="cn-beijing",
    access_key_id="AKhosts",
    secret_access_key="hosts-secret",
)


def sample_app(**overrides: Any) -> AppSpec:
    """The sample app (notes-api) as the stack describes it."""
    values: dict[str, Any] = {
        "package": SAMPLE_PACKAGE,
        "asgi_path": "notes_api.main:app",
        "readiness_path": "/readyz",
        "liveness_path": "/healthz",
        "migration_command": ("notes-api-migrate",),
    }
    values.update(overrides)
    return AppSpec(**values)


def acme_spec(**overrides: Any) -> AppHostSpec:
    values: dict[str, Any] = {
        "domains": ("api.example.test", "www.example.test"),
        "certificates": AcmeCertificates(contact_email="ops@example.test"),
        "app": sample_app(),
        "store": SAMPLE_STORE,
        # ecs.g3il.large, the components' default instance type.
        "capacity": Capacity(vcpus=2, memory_mib=8192),
        "database_url": "postgresql://notes:secret-pw@10.0.0.5:5432/notes",
        "admin_ssh_keys": (ADMIN_KEY,),
    }
    values.update(overrides)
    return AppHostSpec(**values)


def self_signed_spec(**overrides: Any) -> AppHostSpec:
    return acme_spec(certificates=SelfSignedCertificates(), **overrides)


@functools.cache
def private_ca_bundle() -> str:
    """A 2 KB private-CA bundle as a company CA would hand out: an RSA-2048 root and an
    intermediate, both real certificates (made here, keys thrown away)."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = datetime.datetime.now(datetime.UTC)
    pems: list[str] = []
    issuer_key = None
    issuer_name = None
    for common_name in ("Example Corp Root CA", "Example Corp Issuing CA 1"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Corp"), x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(issuer_name or name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(issuer_key or key, hashes.SHA256())
        )
        pems.append(certificate.public_bytes(serialization.Encoding.PEM).decode())
        issuer_key, issuer_name = key, name
    return "".join(pems)
