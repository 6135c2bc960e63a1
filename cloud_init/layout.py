"""Where things live on an app host. One place, so the units, the Nginx site, the scripts'
settings and the tests agree on every path."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "ACME_CA_BUNDLE",
    "APP_HOST_WORKER",
    "BOOTSTRAP",
    "CERTIFICATE_TOOL",
    "HOST_CONF",
    "MIGRATE_ONCE",
    "REQUIREMENTS",
    "TOOLING_DIR",
    "TOOLING_LIB",
    "HostLayout",
]

# The host tooling is static (linted as-is in the repo); it finds its settings here.
TOOLING_DIR = "/etc/app-host"
HOST_CONF = f"{TOOLING_DIR}/host.conf"
REQUIREMENTS = f"{TOOLING_DIR}/requirements.txt"
ACME_CA_BUNDLE = f"{TOOLING_DIR}/acme-ca.pem"
BOOTSTRAP = "/usr/local/sbin/app-host-bootstrap"
CERTIFICATE_TOOL = "/usr/local/sbin/app-host-certificate"
TOOLING_LIB = "/usr/local/lib/app-host"
MIGRATE_ONCE = f"{TOOLING_LIB}/migrate_once.py"
APP_HOST_WORKER = f"{TOOLING_LIB}/app_host_worker.py"


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
    def certificate_unit(self) -> str:
        return f"{self.app_name}-certificate.service"

    @property
    def certificate_timer(self) -> str:
        return f"{self.app_name}-certificate.timer"
