"""What every component shares: the Args model settings and the Input types pydantic can check.

Components translate pure models into provider resources. They never read `pulumi.Config` and
never export: `__main__.py` does both, once.
"""

from __future__ import annotations

from typing import Any, TypeVar, cast

import pulumi
from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

__all__ = ["ComponentArgs", "StrInput", "child", "project_token", "secret"]

# `pulumi.Input[str]` includes Awaitable, which pydantic cannot check; a value or an Output
# covers what callers pass.
StrInput = str | pulumi.Output[str]

PROJECT = "fastapi-deploy"


def project_token(area: str, name: str) -> str:
    """Type token `fastapi-deploy:<area>:<Name>`."""
    return f"{PROJECT}:{area}:{name}"


class ComponentArgs(BaseModel):
    """Base of every component's Args: immutable, no unknown fields, Outputs allowed."""

    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)


def child(parent: pulumi.Resource, **options: object) -> pulumi.ResourceOptions:
    """Options for a child resource: parented to the component, so it inherits the caller's
    provider, protect and aliases; extra options (depends_on, protect, ...) are merged in."""
    return pulumi.ResourceOptions(parent=parent, **options)  # type: ignore[arg-type]


def secret(value: pulumi.Output[T]) -> pulumi.Output[T]:
    """`pulumi.Output.secret` for an Output; its `Input[U]` signature defeats mypy's inference."""
    return cast(pulumi.Output[T], pulumi.Output.secret(cast(Any, value)))
