"""The bridge from the host layer's pure renderer to a secret Pulumi Output."""

from __future__ import annotations

import pulumi

from fastapi_deploy.cloud_init import render_user_data
from fastapi_deploy.stack_model.host_spec import AppHostSpec

__all__ = ["HostSpecInput", "rendered_cloud_config"]

# A spec known now, or one that waits for outputs (the database URL, the bucket keys).
HostSpecInput = AppHostSpec | pulumi.Output[AppHostSpec]


def rendered_cloud_config(spec: HostSpecInput) -> pulumi.Output[str]:
    """#cloud-config text for `spec`, rendered inside an apply (the renderer takes plain
    values) and kept secret: it carries the database URL and the app's secrets."""
    return pulumi.Output.secret(
        pulumi.Output.from_input(spec).apply(lambda value: render_user_data(value).cloud_config)
    )
