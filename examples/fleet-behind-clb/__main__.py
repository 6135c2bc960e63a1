"""The components as a library: a fleet of two to four hosts behind a CLB, with its own
database, composed without the fastapi-deploy stack configuration.

Run from this directory with `pulumi up` once the repository is installed
(`pip install -e ../..`); tests/mocks/test_examples.py runs it under mocks.
"""

from __future__ import annotations

import pulumi
import pulumi_volcengine as volcengine

from fastapi_deploy.components import (
    AppFleet,
    AppFleetArgs,
    LoadBalancer,
    LoadBalancerArgs,
    Network,
    NetworkArgs,
    Postgres,
    PostgresArgs,
    SecurityGroup,
    SecurityGroupArgs,
    ServerGroupAttachment,
)
from fastapi_deploy.stack_model.capacity import Capacity
from fastapi_deploy.stack_model.host_spec import AppHostSpec, SelfSignedCertificates

ZONES = ("cn-shanghai-a", "cn-shanghai-b")

provider = volcengine.Provider("shanghai", region="cn-shanghai")
in_shanghai = pulumi.ResourceOptions(provider=provider)

network = Network("demo", NetworkArgs(zone_ids=ZONES, vpc_cidr="10.30.0.0/16"), in_shanghai)
hosts = SecurityGroup(
    "demo-hosts", SecurityGroupArgs(vpc_id=network.vpc_id, admin_cidrs=("198.51.100.0/24",)), in_shanghai
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
    in_shanghai,
)
balancer = LoadBalancer(
    "demo-lb",
    LoadBalancerArgs(vpc_id=network.vpc_id, subnet_id=network.subnet_id_by_zone[ZONES[0]]),
    in_shanghai,
)


def host_spec(database_url: str) -> AppHostSpec:
    # Self-signed: a fleet cannot finish ACME yet (see docs/cloud-layer.md).
    return AppHostSpec(
        domains=("demo.example.com",),
        certificates=SelfSignedCertificates(),
        capacity=Capacity(vcpus=2, memory_mib=4096),
        database_url=database_url,
    )


fleet = AppFleet(
    "demo-fleet",
    AppFleetArgs(
        host_spec=database.database_url.apply(host_spec),
        subnet_ids=tuple(network.subnet_id_by_zone.values()),
        security_group_ids=(hosts.security_group_id,),
        instance_type="ecs.c3il.large",
        load_balancer_server_groups=tuple(
            ServerGroupAttachment(server_group_id=group, port=port)
            for port, group in balancer.server_group_ids.items()
        ),
        min_size=2,
        desired_size=2,
        max_size=4,
    ),
    in_shanghai,
)

pulumi.export("load_balancer_address", balancer.load_balancer_address)
pulumi.export("scaling_group_id", fleet.scaling_group_id)
