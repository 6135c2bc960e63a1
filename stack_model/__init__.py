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
from stack_model.ingress import (
    CATALOGUE,
    PROTECTED_PORTS,
    IngressRule,
    UnsafeIngressRule,
    app_host_ingress_rules,
)
from stack_model.instance_types import INSTANCE_TYPES, instance_size
from stack_model.stack_config import StackConfig, StackConfigError, load_stack_config

__all__ = [
    "CATALOGUE",
    "INSTANCE_TYPES",
    "PROTECTED_PORTS",
    "SERVER_REQUIREMENTS",
    "AcmeCertificates",
    "AppHostSpec",
    "AppSpec",
    "Capacity",
    "IngressRule",
    "ObjectStorageSpec",
    "SelfSignedCertificates",
    "StackConfig",
    "StackConfigError",
    "UnsafeIngressRule",
    "app_host_ingress_rules",
    "instance_size",
    "load_stack_config",
]
