"""Where things live on an app host. One place, so the units, the Nginx site, the scripts'
settings and the tests agree on every path."""

from __future__ import annotations

from dataclasses import dataclass

# Paths the tooling owns, named once there (app_host is what runs on the hosts).
from fastapi_deploy.app_host.config import METRICS_CONF as _METRICS_CONF
from fastapi_deploy.app_host.config import TOOL, WORKER_MARKERS_ENV
from fastapi_deploy.app_host.release import (
    active_link,
    migrate_unit,
    slot_dir,
    slot_socket,
    slot_units,
    worker_markers,
)
from fastapi_deploy.app_host.units import ACME_RESPONDER_SOCKET

__all__ = [
    "ACME_CA_BUNDLE",
    "ACME_RESPONDER_SOCKET",
    "APP_HOST_TOOL",
    "ARTIFACTS_DIR",
    "FETCH_TOOLING",
    "HOST_CONF",
    "METRICS_CONF",
    "STORE_CONF",
    "TOOLING_DIR",
    "WORKER_CLASS",
    "WORKER_MARKERS_ENV",
    "HostLayout",
]

# The host tooling (the app_host package, fetched as one zipapp) finds its settings here.
TOOLING_DIR = "/etc/app-host"
HOST_CONF = f"{TOOLING_DIR}/host.conf"
# Root only: the store's keys.
STORE_CONF = f"{TOOLING_DIR}/store.conf"
ACME_CA_BUNDLE = f"{TOOLING_DIR}/acme-ca.pem"
# Root only: the metrics workspace's login (present when the stack ships metrics).
METRICS_CONF = str(_METRICS_CONF)
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

    # The app runs in two slots (blue, green), each a systemd template instance with its
    # own virtualenv and socket; %i in a template is the slot (app_host.release).
    @property
    def slot_venv(self) -> str:
        return f"{slot_dir(self.app_name, '%i')}/venv"

    @property
    def slot_release_env(self) -> str:
        return f"{slot_dir(self.app_name, '%i')}/release.env"

    @property
    def slot_socket(self) -> str:
        return slot_socket(self.app_name, "%i")

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
        """What Nginx connects to: a symlink to the serving slot's socket."""
        return str(active_link(self.app_name))

    @property
    def certificate_dir(self) -> str:
        return f"/etc/ssl/{self.app_name}"

    @property
    def acme_webroot(self) -> str:
        return "/var/www/acme"

    @property
    def app_unit(self) -> str:
        """The app server's template unit (an instance per slot)."""
        return slot_units(self.app_name, "")[1]

    @property
    def socket_unit(self) -> str:
        return slot_units(self.app_name, "")[0]

    @property
    def migrate_unit(self) -> str:
        return migrate_unit(self.app_name, "")

    @property
    def worker_markers(self) -> str:
        """The slot's runtime directory for its workers' markers, in a template."""
        return worker_markers(self.app_name, "%i")

    def instance(self, template: str, slot: str = "%i") -> str:
        """`template`'s unit for one slot ('%i': the same slot as the unit naming it)."""
        return template.replace("@.", f"@{slot}.")

    @property
    def live_certificate_dir(self) -> str:
        """The pair Nginx serves: one symlink the tooling switches atomically."""
        return f"{self.certificate_dir}/current"
