"""Pure models shared by the host layer and the cloud layer; no Pulumi imports here."""

from stack_model.capacity import Capacity
from stack_model.host_spec import (
    SERVER_REQUIREMENTS,
    AcmeCertificates,
    AppHostSpec,
    AppSpec,
    ObjectStorageSpec,
    SelfSignedCertificates,
)

__all__ = [
    "SERVER_REQUIREMENTS",
    "AcmeCertificates",
    "AppHostSpec",
    "AppSpec",
    "Capacity",
    "ObjectStorageSpec",
    "SelfSignedCertificates",
]
