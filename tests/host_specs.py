"""App-host specs shared by the unit, render and boot tests."""

from __future__ import annotations

from typing import Any

from fastapi_deploy.stack_model import AcmeCertificates, AppHostSpec, Capacity, SelfSignedCertificates

# A real ed25519 public key (throwaway, no private key kept anywhere).
ADMIN_KEY = (
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOq4aEt67xZrTi4i1r2kYFBea+nD2McttE6fVJKiTsHK ops@example"
)


def acme_spec(**overrides: Any) -> AppHostSpec:
    values: dict[str, Any] = {
        "domains": ("api.example.test", "www.example.test"),
        "certificates": AcmeCertificates(contact_email="ops@example.test"),
        "capacity": Capacity(vcpus=2, memory_mib=4096),
        "database_url": "postgresql://notes:secret-pw@10.0.0.5:5432/notes",
        "admin_ssh_keys": (ADMIN_KEY,),
    }
    values.update(overrides)
    return AppHostSpec(**values)


def self_signed_spec(**overrides: Any) -> AppHostSpec:
    return acme_spec(certificates=SelfSignedCertificates(), **overrides)
