"""Where things live on an app host. One place, so the units, the Nginx site, the scripts'
settings and the tests agree on every path."""

from __future__ import annotations

from dataclasses import dataclass

# Paths the tooling owns, named once there (app_host is what runs on the hosts).
from fastapi_deploy.app_host.config import TOOL
from fastapi_deploy.app_host.units import ACME_RESPONDER_SOCKET

__all__ = [
    "ACME_CA_BUNDLE",
    "ACME_RESPONDER_SOCKET",
    "APP_HOST_TOOL",
    "ARTIFACTS_DIR",
    "FETCH_TOOLING",
    "HOST_CONF",
    "REQUIREMENTS",
    "STORE_CONF",
    "TOOLING_DIR",
    "WORKER_CLASS",
    "HostLayout",
]

# The host tooling (the app_host package, fetched as one zipapp) finds its settings here.
TOOLING_DIR = "/etc/app-host"
HOST_CONF = f"{TOOLING_DIR}/host.conf"
# Root only: the store's keys.
STORE_CONF = f"{TOOLING_DIR}/store.conf"
REQUIREMENTS = f"{TOOLING_DIR}/requirements.txt"
ACME_CA_BUNDLE = f"{TOOLING_DIR}/acme-ca.pem"
# The zipapp itself: executable, and importable (gunicorn loads the worker class from it).
APP_HOST_TOOL = TOOL
# The few lines that fetch the zipapp before it exists.
FETCH_TOOLING = "/usr/local/lib/app-host/fetch-tooling"
ARTIFACTS_DIR = "/var/lib/app-host/artifacts"
WORKER_CLASS = "app_host.worker.AppHostWorker"


@dataclass(frozen=True)
class HostLayout:
    """Paths and names for one app, derived from its slug."""

    app_name: str

    @property
    def service_user(self) -> str:
        return self.app_name

    @property
    def venv_dir(self) -> str:
        return f"/opt/{self.app_name}/venv"

    @property
    def config_dir(self) -> str:
        return f"/etc/{self.app_name}"

    @property
    def env_file(self) -> str:
        return f"{self.config_dir}/env"

    @property
    def gunicorn_conf(self) -> str:
        return f"{self.config_dir}/gunicorn.conf.py"

    @property
    def app_socket(self) -> str:
        return f"/run/{self.app_name}/gunicorn.sock"

    @property
    def certificate_dir(self) -> str:
        return f"/etc/ssl/{self.app_name}"

    @property
    def acme_webroot(self) -> str:
        return "/var/www/acme"

    @property
    def app_unit(self) -> str:
        return f"{self.app_name}.service"

    @property
    def socket_unit(self) -> str:
        return f"{self.app_name}.socket"

    @property
    def migrate_unit(self) -> str:
        return f"{self.app_name}-migrate.service"

    @property
    def live_certificate_dir(self) -> str:
        """The pair Nginx serves: one symlink the tooling switches atomically."""
        return f"{self.certificate_dir}/current"
