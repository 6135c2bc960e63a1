"""fastapi-deploy: one stack's composition.

Read the stack configuration once and validate it (StackConfig), build the components for
the selected platform, export what a user needs. Nothing else happens here: the components
hold the provider details and the pure core holds the rules. The Volcengine resources every
app host stands on (network, security group, database, bucket, host spec) are composed in
`stack.py`, which the benchmark shares.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pulumi

from fastapi_deploy.artifacts import LocalArtifact, app_package_artifact
from fastapi_deploy.components import (
    AppFleet,
    AppFleetArgs,
    AppHost,
    AppHostArgs,
    DockerAppHost,
    DockerAppHostArgs,
    DockerNetwork,
    DockerNetworkArgs,
    DockerPostgres,
    DockerPostgresArgs,
    FleetRoll,
    FleetRollArgs,
    HealthzGate,
    HealthzGateArgs,
    LoadBalancer,
    LoadBalancerArgs,
    LogCollector,
    LogCollectorArgs,
    Monitoring,
    MonitoringArgs,
    NatGateway,
    NatGatewayArgs,
    ReleaseWatch,
    ReleaseWatchArgs,
    ServerGroupAttachment,
)
from fastapi_deploy.components._base import secret
from fastapi_deploy.components.load_balancer import HEALTH_CHECK_PORT
from fastapi_deploy.stack_model.host_spec import AppHostSpec, LocalStoreSpec
from fastapi_deploy.stack_model.stack_config import StackConfig, StackConfigError, load_stack_config
from stack import build_foundation

HERE = Path(__file__).resolve().parent


def read_stack_config() -> StackConfig:
    """All `<project>:*` keys, validated together; problems stop the program with one line
    each (key, value, fix) and no traceback."""
    project = pulumi.get_project()
    prefix = f"{project}:"
    # pulumi.Config cannot list keys, and an unknown key is usually a typo worth refusing,
    # so read the raw map the language host passed (environment or runtime settings).
    raw_map: dict[str, Any] = {**pulumi.runtime.get_config_env(), **pulumi.runtime.config.CONFIG.get()}
    secret_keys = set(pulumi.runtime.get_config_secret_keys_env()) | {
        key for key in raw_map if pulumi.runtime.is_config_secret(key)
    }
    raw = {key[len(prefix) :]: value for key, value in raw_map.items() if key.startswith(prefix)}
    try:
        return load_stack_config(raw, project, {key[len(prefix) :] for key in secret_keys})
    except StackConfigError as error:
        # RunError: the engine prints the message alone, without a Python traceback.
        raise pulumi.RunError(f"invalid stack configuration:\n{error}") from None


def app_package(config: StackConfig) -> LocalArtifact | None:
    """The app's archive, built from appPackage (a path relative to this project)."""
    if not config.app_package:
        return None
    try:
        return app_package_artifact(config.app_package, HERE)
    except ValueError as error:
        raise pulumi.RunError(
            f"invalid stack configuration:\n{pulumi.get_project()}:appPackage = "
            f"{config.app_package!r}: {error}"
        ) from None


def build_volcengine(config: StackConfig) -> dict[str, Any]:
    foundation = build_foundation(config, app_package(config))
    in_region = foundation.in_region
    zones = config.zone_ids
    network, database, storage = foundation.network, foundation.database, foundation.storage
    # Hosts boot only once the files they fetch are in the bucket.
    hosts_options = pulumi.ResourceOptions.merge(in_region, pulumi.ResourceOptions(depends_on=[foundation.artifacts]))

    host_settings: dict[str, Any] = {
        "host_spec": foundation.host_spec,
        "security_group_ids": (foundation.hosts_group.security_group_id,),
        "instance_type": config.instance_type,
        "image_os_name": config.image_os_name,
        "image_os_version": config.image_os_version,
        "image_id": config.image_id,
        "system_disk_gib": config.system_disk_gib,
        "system_disk_type": config.system_disk_type,
    }
    monitoring_settings: dict[str, Any] = {
        "region": config.region,
        "contact_name": config.alarm_contact_name,
        "contact_email": config.alarm_contact_email,
        "contact_phone": config.alarm_contact_phone,
        "database_instance_id": database.instance_id,
        "cpu_alarm_percent": config.cpu_alarm_percent,
        "database_cpu_alarm_percent": config.database_cpu_alarm_percent,
        "database_storage_alarm_percent": config.database_storage_alarm_percent,
        "silence_minutes": config.alarm_silence_minutes,
    }
    exports: dict[str, Any] = {}
    deployed: pulumi.Resource
    if config.fleet_enabled:
        balancer = LoadBalancer(
            "app-lb",
            LoadBalancerArgs(
                vpc_id=network.vpc_id,
                subnet_id=network.subnet_id_by_zone[zones[0]],
                master_zone_id=zones[0],
                slave_zone_id=zones[1],
                load_balancer_spec=config.load_balancer_spec,
                public_bandwidth_mbps=config.public_bandwidth_mbps,
                health_check_port=443 if config.load_balancer_health_check == "tcp-443" else HEALTH_CHECK_PORT,
            ),
            in_region,
        )
        # Private hosts reach the package index and the ACME CA only through a NAT gateway.
        egress = NatGateway(
            "app-egress",
            NatGatewayArgs(
                vpc_id=network.vpc_id,
                subnet_id=network.subnet_id_by_zone[zones[0]],
                source_subnet_ids=network.subnet_id_by_zone,
                bandwidth_mbps=config.egress_bandwidth_mbps,
            ),
            in_region,
        )
        exports["egress_address"] = egress.public_address
        if foundation.journal is not None and foundation.collector_address is not None:
            LogCollector(
                "app-logs",
                LogCollectorArgs(
                    vpc_id=network.vpc_id,
                    subnet_id=network.subnet_id_by_zone[zones[0]],
                    private_address=foundation.collector_address,
                    sender_cidrs=network.subnet_cidr_blocks,
                    admin_cidrs=config.admin_cidrs,
                    admin_ssh_keys=config.admin_ssh_keys,
                    server_cert_pem=foundation.journal.server_cert_pem,
                    server_key_pem=foundation.journal.server_key_pem,
                    # Debian 12 whatever the hosts run: its journal-remote is what was tested.
                    instance_type=config.log_collector_instance_type,
                    disk_gib=config.log_collector_disk_gib,
                    keep_days=config.log_keep_days,
                ),
                # It installs its package through the NAT gateway, like the hosts.
                pulumi.ResourceOptions.merge(in_region, pulumi.ResourceOptions(depends_on=[egress])),
            )
            exports["log_collector_address"] = foundation.collector_address
        fleet = AppFleet(
            "app-fleet",
            AppFleetArgs(
                **host_settings,
                subnet_ids=tuple(network.subnet_id_by_zone.values()),
                load_balancer_server_groups=tuple(
                    ServerGroupAttachment(server_group_id=group_id, port=port)
                    for port, group_id in balancer.server_group_ids.items()
                ),
                min_size=config.fleet_min_size,
                desired_size=config.fleet_desired_size,
                max_size=config.fleet_max_size,
                cpu_scale_out_percent=config.cpu_scale_out_percent,
                cpu_scale_in_percent=config.cpu_scale_in_percent,
                cpu_evaluation_periods=config.cpu_evaluation_periods,
                scale_out_cooldown_seconds=config.scale_out_cooldown_seconds,
                scale_in_cooldown_seconds=config.scale_in_cooldown_seconds,
            ),
            # Hosts boot once the SNAT rules exist, or their first boot finds no way out.
            pulumi.ResourceOptions.merge(hosts_options, pulumi.ResourceOptions(depends_on=[egress])),
        )
        Monitoring(
            "app-alarms",
            MonitoringArgs(
                **monitoring_settings,
                fleet_hosts=True,
                load_balancer_id=balancer.load_balancer_id,
                load_balancer_listener_ids=tuple(balancer.listener_ids.values()),
            ),
            in_region,
        )
        public_address = balancer.load_balancer_address
        exports["load_balancer_address"] = public_address
        deployed, gate_trigger = fleet, fleet.scaling_configuration_id
        console = fleet.console_password
    else:
        host = AppHost(
            "app-host",
            AppHostArgs(
                **host_settings,
                subnet_id=network.subnet_id_by_zone[zones[0]],
                public_bandwidth_mbps=config.public_bandwidth_mbps,
            ),
            hosts_options,
        )
        Monitoring(
            "app-alarms",
            MonitoringArgs(**monitoring_settings, host_instance_ids=(host.instance_id,)),
            in_region,
        )
        public_address = host.instance_public_ip
        deployed, gate_trigger = host, host.instance_id
        console = host.console_password

    release_watch: list[pulumi.Resource] = []
    if config.release_watch_minutes:
        watch = ReleaseWatch(
            "app-release",
            ReleaseWatchArgs(
                app_name=config.app_name,
                release_id=foundation.release_id,
                attempt_id=foundation.release_attempt_id,
                endpoint_url=storage.bucket_s3_public_endpoint,
                bucket=storage.bucket_name,
                region=config.region,
                access_key_id=storage.watch_access_key_id,
                secret_access_key=storage.watch_secret_access_key,
                min_hosts=config.fleet_min_size if config.fleet_enabled else 1,
                timeout_seconds=config.release_watch_minutes * 60,
            ),
            pulumi.ResourceOptions(depends_on=[deployed]),
        )
        release_watch.append(watch)
    if config.fleet_enabled and config.fleet_roll_health_minutes:
        # After the release is out, so the new hosts boot straight into it.
        provider_config = pulumi.Config("volcengine")
        FleetRoll(
            "app-fleet-roll",
            FleetRollArgs(
                scaling_group_id=fleet.scaling_group_id,
                host_configuration_digest=fleet.host_configuration_digest,
                listener_ids=tuple(balancer.listener_ids.values()),
                region=config.region,
                batch_size=config.fleet_roll_batch_size,
                health_timeout_seconds=config.fleet_roll_health_minutes * 60,
                access_key=provider_config.get_secret("accessKey"),
                secret_key=provider_config.get_secret("secretKey"),
            ),
            pulumi.ResourceOptions(depends_on=[fleet, *release_watch]),
        )

    if config.healthz_gate:
        HealthzGate(
            "app-healthz",
            HealthzGateArgs(
                domain=config.domain,
                address=public_address,
                path=config.readiness_path,
                attempts=config.healthz_gate_attempts,
                interval_seconds=config.healthz_gate_interval_seconds,
                triggers=(gate_trigger,),
            ),
            pulumi.ResourceOptions(depends_on=[deployed]),
        )
    return {
        "url": f"https://{config.domain}",
        "public_address": public_address,
        **exports,
        "bucket_name": storage.bucket_name,
        "database_endpoint": pulumi.Output.concat(database.endpoint_host, ":", database.endpoint_port),
        "database_password": database.account_password,
        # The hosts' root password for the cloud console (sshd refuses passwords): break-glass.
        "host_console_password": console,
    }


def build_docker(config: StackConfig) -> dict[str, Any]:
    network = DockerNetwork("dev", DockerNetworkArgs())
    database = DockerPostgres(
        "dev-postgres",
        DockerPostgresArgs(
            network_name=network.network_name,
            database_name=config.database_name,
            user=config.database_user,
        ),
    )
    package = app_package(config)
    # The same spec a cloud host gets, with the dev database, a self-signed certificate and a
    # store inside the container (the component puts the artifacts there).
    host_spec: pulumi.Output[AppHostSpec] = secret(
        database.database_url.apply(
            lambda url: config.host_spec(
                url,
                store=LocalStoreSpec(),
                app_package=package.ref if package is not None else None,
                environment=pulumi.get_stack(),
            )
        )
    )
    host = DockerAppHost(
        "dev-app-host",
        DockerAppHostArgs(
            host_spec=host_spec,
            artifacts=(package,) if package is not None else (),
            network_name=network.network_name,
            build_context=str(HERE / "docker" / "app-host"),
            https_port=config.dev_https_port,
            http_port=config.dev_http_port,
        ),
    )
    if config.healthz_gate:
        HealthzGate(
            "dev-healthz",
            HealthzGateArgs(
                domain=config.domain,
                address="127.0.0.1",
                port=config.dev_https_port,
                path=config.readiness_path,
                verify_tls=False,
                attempts=config.healthz_gate_attempts,
                interval_seconds=config.healthz_gate_interval_seconds,
                triggers=(
                    host.user_data_cloud_config.apply(lambda text: hashlib.sha256(text.encode()).hexdigest()),
                ),
            ),
            pulumi.ResourceOptions(depends_on=[host]),
        )
    return {
        "url": f"https://{config.domain}:{config.dev_https_port}",
        "public_address": "127.0.0.1",
        "database_endpoint": f"{database.endpoint_host}:{database.endpoint_port}",
        "database_password": database.password,
    }


def main() -> None:
    config = read_stack_config()
    builders = {"volcengine": build_volcengine, "docker": build_docker}
    for key, value in builders[config.platform](config).items():
        pulumi.export(key, value)


main()
