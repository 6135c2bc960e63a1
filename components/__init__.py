"""Pulumi ComponentResources of fastapi-deploy, one per module.

    from fastapi_deploy.components import AppFleet, AppFleetArgs, Network, NetworkArgs, ...

Each takes `(name, args, opts=None)`: `args` is a pydantic model whose fields document their
defaults; children are named from `name` and parented to the component.
"""

from fastapi_deploy.components.app_fleet import AppFleet, AppFleetArgs, ServerGroupAttachment
from fastapi_deploy.components.app_host import AppHost, AppHostArgs
from fastapi_deploy.components.docker_app_host import DockerAppHost, DockerAppHostArgs
from fastapi_deploy.components.docker_network import DockerNetwork, DockerNetworkArgs
from fastapi_deploy.components.docker_postgres import DockerPostgres, DockerPostgresArgs
from fastapi_deploy.components.fleet_roll import FleetRoll, FleetRollArgs
from fastapi_deploy.components.healthz_gate import HealthzGate, HealthzGateArgs
from fastapi_deploy.components.host_artifacts import HostArtifacts, HostArtifactsArgs
from fastapi_deploy.components.host_metrics import HostMetrics, HostMetricsArgs
from fastapi_deploy.components.load_balancer import LoadBalancer, LoadBalancerArgs
from fastapi_deploy.components.log_collector import (
    JournalCertificates,
    JournalCertificatesArgs,
    LogCollector,
    LogCollectorArgs,
)
from fastapi_deploy.components.monitoring import Monitoring, MonitoringArgs
from fastapi_deploy.components.nat_gateway import NatGateway, NatGatewayArgs
from fastapi_deploy.components.network import Network, NetworkArgs
from fastapi_deploy.components.object_storage import ObjectStorage, ObjectStorageArgs
from fastapi_deploy.components.postgres import Postgres, PostgresArgs
from fastapi_deploy.components.release_watch import ReleaseWatch, ReleaseWatchArgs
from fastapi_deploy.components.security_group import SecurityGroup, SecurityGroupArgs
from fastapi_deploy.components.vm import Vm, VmArgs

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
    "FleetRoll",
    "FleetRollArgs",
    "HealthzGate",
    "HealthzGateArgs",
    "HostArtifacts",
    "HostArtifactsArgs",
    "HostMetrics",
    "HostMetricsArgs",
    "JournalCertificates",
    "JournalCertificatesArgs",
    "LoadBalancer",
    "LoadBalancerArgs",
    "LogCollector",
    "LogCollectorArgs",
    "Monitoring",
    "MonitoringArgs",
    "NatGateway",
    "NatGatewayArgs",
    "Network",
    "NetworkArgs",
    "ObjectStorage",
    "ObjectStorageArgs",
    "Postgres",
    "PostgresArgs",
    "ReleaseWatch",
    "ReleaseWatchArgs",
    "SecurityGroup",
    "SecurityGroupArgs",
    "ServerGroupAttachment",
    "Vm",
    "VmArgs",
]
