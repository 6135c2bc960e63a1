"""Pulumi ComponentResources of fastapi-deploy, one per module.

    from components import AppFleet, AppFleetArgs, Network, NetworkArgs, ...

Each takes `(name, args, opts=None)`: `args` is a pydantic model whose fields document their
defaults; children are named from `name` and parented to the component.
"""

from components.app_fleet import AppFleet, AppFleetArgs, ServerGroupAttachment
from components.app_host import AppHost, AppHostArgs
from components.docker_app_host import DockerAppHost, DockerAppHostArgs
from components.docker_network import DockerNetwork, DockerNetworkArgs
from components.docker_postgres import DockerPostgres, DockerPostgresArgs
from components.healthz_gate import HealthzGate, HealthzGateArgs
from components.load_balancer import LoadBalancer, LoadBalancerArgs
from components.monitoring import Monitoring, MonitoringArgs
from components.network import Network, NetworkArgs
from components.object_storage import ObjectStorage, ObjectStorageArgs
from components.postgres import Postgres, PostgresArgs
from components.security_group import SecurityGroup, SecurityGroupArgs
from components.vm import Vm, VmArgs

__all__ = [
    "AppFleet",
    "AppFleetArgs",
    "AppHost",
    "AppHostArgs",
    "DockerAppHost",
    "DockerAppHostArgs",
    "DockerNetwork",
    "DockerNetworkArgs",
    "DockerPostgres",
    "DockerPostgresArgs",
    "HealthzGate",
    "HealthzGateArgs",
    "LoadBalancer",
    "LoadBalancerArgs",
    "Monitoring",
    "MonitoringArgs",
    "Network",
    "NetworkArgs",
    "ObjectStorage",
    "ObjectStorageArgs",
    "Postgres",
    "PostgresArgs",
    "SecurityGroup",
    "SecurityGroupArgs",
    "ServerGroupAttachment",
    "Vm",
    "VmArgs",
]
