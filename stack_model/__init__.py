"""Pure models shared by the host layer and the cloud layer; no Pulumi imports here."""

from fastapi_deploy.stack_model.capacity import Capacity
from fastapi_deploy.stack_model.host_spec import (
    SERVER_REQUIREMENTS,
    AcmeCertificates,
    AppHostSpec,
    AppSpec,
    ArtifactRef,
    LocalStoreSpec,
    ObjectStorageSpec,
    S3StoreSpec,
    SelfSignedCertificates,
    StoreSpec,
)
from fastapi_deploy.stack_model.ingress import (
    CATALOGUE,
    PROTECTED_PORTS,
    IngressRule,
    UnsafeIngressRule,
    app_host_ingress_rules,
)
from fastapi_deploy.stack_model.instance_types import INSTANCE_TYPES, instance_size
from fastapi_deploy.stack_model.stack_config import StackConfig, StackConfigError, load_stack_config

__all__ = [
    "CATALOGUE",
    "INSTANCE_TYPES",
    "PROTECTED_PORTS",
    "SERVER_REQUIREMENTS",
    "AcmeCertificates",
    "AppHostSpec",
    "AppSpec",
    "ArtifactRef",
    "Capacity",
    "IngressRule",
    "LocalStoreSpec",
    "ObjectStorageSpec",
    "S3StoreSpec",
    "SelfSignedCertificates",
    "StackConfig",
    "StackConfigError",
    "StoreSpec",
    "UnsafeIngressRule",
    "app_host_ingress_rules",
    "instance_size",
    "load_stack_config",
]
