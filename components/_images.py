"""Public image lookup by operating system name and version (shared by Vm and AppFleet)."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_volcengine as volcengine

__all__ = ["ImageNotFound", "lookup_image_id"]


class ImageNotFound(ValueError):
    """No public image matches the requested operating system."""


def _pick(images: list[Any], os_name: str, os_version: str, instance_type: str) -> str:
    # The API filters by platform only; the version ("12" matches "12", "12.5") and the newest
    # build are chosen here so that a fresh point release is picked up on the next `up`.
    wanted = os_name.lower()
    matching = [
        image
        for image in images
        if str(image.platform).lower() == wanted
        and (
            str(image.platform_version) == os_version
            or str(image.platform_version).startswith(f"{os_version}.")
        )
        and image.is_support_cloud_init
    ]
    if not matching:
        seen = sorted({f"{image.platform} {image.platform_version}" for image in images})
        hint = (
            ""
            if images
            else " (under Pulumi mocks, answer the volcengine:ecs/getImages:getImages invoke: "
            "fastapi_deploy.testing.VolcengineMocks does)"
        )
        raise ImageNotFound(
            f"no public {os_name} {os_version} image with cloud-init for {instance_type}; the "
            f"region offers: {', '.join(seen) or 'none'}{hint}; set image_os_name/image_os_version "
            "to one of those, or image_id to an image of your own"
        )
    newest = max(matching, key=lambda image: (str(image.created_at), str(image.image_id)))
    return str(newest.image_id)


def lookup_image_id(
    os_name: str, os_version: str, instance_type: str, parent: pulumi.Resource
) -> pulumi.Output[str]:
    """The newest public image of `os_name os_version` that supports cloud-init and runs on
    `instance_type`. Invoked with `parent` so it uses the component's provider (region)."""
    found = volcengine.ecs.get_images_output(
        os_type="Linux",
        platform=os_name,
        visibility="public",
        is_support_cloud_init=True,
        instance_type_id=instance_type,
        statuses=["available"],
        opts=pulumi.InvokeOptions(parent=parent),
    )
    # An invoke answered with no `images` at all (stock mocks) is the same as an empty list.
    return found.images.apply(lambda images: _pick(list(images or []), os_name, os_version, instance_type))
