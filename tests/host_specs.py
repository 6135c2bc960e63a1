"""App-host specs shared by the unit, render and boot tests."""

from __future__ import annotations

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
