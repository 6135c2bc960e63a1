"""Pure rendering of an app host's cloud-init user data from an `AppHostSpec`."""

from fastapi_deploy.cloud_init.layout import HostLayout
from fastapi_deploy.cloud_init.render import (
    USER_DATA_LIMIT_BYTES,
    HostFile,
    RenderedUserData,
    UserDataTooLarge,
    host_files,
    render_user_data,
)

__all__ = [
    "USER_DATA_LIMIT_BYTES",
    "HostFile",
    "HostLayout",
    "RenderedUserData",
    "UserDataTooLarge",
    "host_files",
    "render_user_data",
]
