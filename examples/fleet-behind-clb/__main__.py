"""A template: your FastAPI app on an autoscaling fleet behind a CLB, built from the
fastapi-deploy components without its stack configuration.

Copy this directory out of the repository, point `requirements.txt` at fastapi-deploy, set
the config (see README.md) and run `pulumi up`. Its own test runs a copy of it, outside the
repository, under mocks (tests/mocks/test_examples.py).
"""

from __future__ import annotations

from pathlib import Path

import pulumi
import pulumi_volcengine as volcengine
from pydantic import SecretStr

from fastapi_deploy.artifacts import app_package_artifact
from fastapi_deploy.components import (
    AppFleet,
    AppFleetArgs,
    HostArtifacts,
    HostArtifactsArgs,
    LoadBalancer,
    LoadBalancerArgs,
    NatGateway,
    NatGatewayArgs,
    Network,
    NetworkArgs,
    ObjectStorage,
    ObjectStorageArgs,
    Postgres,
    PostgresArgs,
    SecurityGroup,
    SecurityGroupArgs,
    ServerGroupAttachment,
)
from fastapi_deploy.stack_model import AppHostSpec, AppSpec, Capacity, S3StoreSpec, SelfSignedCertificates
from fastapi_deploy.stack_model.host_spec import HEALTH_GATE_PORT
from fastapi_deploy.stack_model.ingress import clb_health_check_rule
from fastapi_deploy.stack_model.instance_types import instance_size

config = pulumi.Config()
REGION = config.get("region") or "cn-shanghai"
ZONES = (f"{REGION}-a", f"{REGION}-b")
INSTANCE_TYPE = config.get("instanceType") or "ecs.c3il.large"
DOMAIN = config.require("domain")
# Your app: its project directory or a built wheel, relative to this directory.
APP_PACKAGE = app_package_artifact(config.require("appPackage"), Path(__file__).resolve().parent)

provider = volcengine.Provider("regional", region=REGION)
in_region = pulumi.ResourceOptions(provider=provider)

network = Network("demo", NetworkArgs(zone_ids=ZONES, vpc_cidr="10.30.0.0/16"), in_region)
hosts = SecurityGroup(
    "demo-hosts",
    SecurityGroupArgs(
        vpc_id=network.vpc_id,
        admin_cidrs=tuple(config.get_object("adminCidrs") or ()),
        # The CLB's health checks reach the hosts' health gate (see health_gate_port below).
        extra_ingress_rules=(clb_health_check_rule(),),
    ),
    in_region,
)
database = Postgres(
    "demo-db",
    PostgresArgs(
        subnet_id=network.subnet_id_by_zone[ZONES[0]],
        primary_zone_id=ZONES[0],
        secondary_zone_id=ZONES[1],
        allowed_cidrs=network.subnet_cidr_blocks,
        # A demo: destroying it should not need a second `pulumi up`.
        deletion_protection=False,
    ),
    in_region,
)
storage = ObjectStorage("demo-files", ObjectStorageArgs(region=REGION, app_access_key=False), in_region)
balancer = LoadBalancer(
    "demo-lb",
    LoadBalancerArgs(vpc_id=network.vpc_id, subnet_id=network.subnet_id_by_zone[ZONES[0]]),
    in_region,
)
size = instance_size(INSTANCE_TYPE)


def host_spec(values: list[str]) -> AppHostSpec:
    database_url, bucket, key_id, secret_key = values
    return AppHostSpec(
        domains=(DOMAIN,),
        # A shared Let's Encrypt certificate needs the stack's TLS store: see the main stack.
        certificates=SelfSignedCertificates(),
        app=AppSpec(
            package=APP_PACKAGE.ref,
            asgi_path=config.require("appAsgiPath"),
            readiness_path=config.get("appReadinessPath") or "/readyz",
            migration_command=tuple((config.get("appMigrationCommand") or "").split()) or None,
        ),
        store=S3StoreSpec(
            endpoint_url=storage.bucket_s3_endpoint,
            bucket=bucket,
            region=REGION,
            access_key_id=SecretStr(key_id),
            secret_access_key=SecretStr(secret_key),
        ),
        capacity=Capacity(vcpus=size.vcpus, memory_mib=size.memory_mib),
        database_url=SecretStr(database_url),
        # Open only while the app answers: the port the CLB's health checks probe.
        health_gate_port=HEALTH_GATE_PORT,
    )


# The hosts have private addresses only: their way out (packages at boot, the app's calls).
egress = NatGateway(
    "demo-egress",
    NatGatewayArgs(
        vpc_id=network.vpc_id,
        subnet_id=network.subnet_id_by_zone[ZONES[0]],
        source_subnet_ids=network.subnet_id_by_zone,
    ),
    in_region,
)

spec = pulumi.Output.all(
    database.database_url,
    storage.bucket_name,
    storage.hosts_access_key_id,
    storage.hosts_secret_access_key,
).apply(host_spec)
# The files the hosts install, and the app version they run (the release record): a new
# version rewrites the record, and the hosts switch to it in place.
artifacts = HostArtifacts(
    "demo-artifacts",
    HostArtifactsArgs(bucket_name=storage.bucket_name, artifacts=(APP_PACKAGE,), host_spec=spec),
    in_region,
)

fleet = AppFleet(
    "demo-fleet",
    AppFleetArgs(
        host_spec=spec,
        subnet_ids=tuple(network.subnet_id_by_zone.values()),
        security_group_ids=(hosts.security_group_id,),
        instance_type=INSTANCE_TYPE,
        load_balancer_server_groups=tuple(
            ServerGroupAttachment(server_group_id=group, port=port)
            for port, group in balancer.server_group_ids.items()
        ),
        min_size=2,
        desired_size=2,
        max_size=4,
    ),
    pulumi.ResourceOptions.merge(in_region, pulumi.ResourceOptions(depends_on=[artifacts, egress])),
)

pulumi.export("load_balancer_address", balancer.load_balancer_address)
pulumi.export("scaling_group_id", fleet.scaling_group_id)
