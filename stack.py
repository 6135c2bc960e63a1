"""What every Volcengine app host of a stack stands on, composed once for `__main__.py` and
the benchmark: the provider, the network, the hosts' security group, the database, the
bucket with the artifacts the hosts install, and the app-host spec built from the database's
URL, the bucket's keys and the app's package.

Like `components/`, it reads no `pulumi.Config` and exports nothing: `__main__.py` does both.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_volcengine as volcengine
from pydantic import SecretStr

from fastapi_deploy.artifacts import LocalArtifact
from fastapi_deploy.components import (
    HostArtifacts,
    HostArtifactsArgs,
    HostMetrics,
    HostMetricsArgs,
    JournalCertificates,
    JournalCertificatesArgs,
    Network,
    NetworkArgs,
    ObjectStorage,
    ObjectStorageArgs,
    Postgres,
    PostgresArgs,
    SecurityGroup,
    SecurityGroupArgs,
)
from fastapi_deploy.components._base import secret
from fastapi_deploy.components.log_collector import collector_address
from fastapi_deploy.stack_model.host_spec import (
    AppHostSpec,
    JournalUploadSpec,
    MetricsShippingSpec,
    ObjectStorageSpec,
    S3StoreSpec,
)
from fastapi_deploy.stack_model.ingress import clb_health_check_rule
from fastapi_deploy.stack_model.stack_config import StackConfig

__all__ = ["Foundation", "build_foundation"]


@dataclass(frozen=True)
class Foundation:
    """The shared resources of a Volcengine stack, and the spec its app hosts boot from."""

    in_region: pulumi.ResourceOptions
    network: Network
    hosts_group: SecurityGroup
    database: Postgres
    storage: ObjectStorage
    artifacts: HostArtifacts
    # The managed Prometheus the hosts write to, and its alerts (None: hostMetrics off).
    metrics: HostMetrics | None
    # The journal collector's CA and certificates, and its fixed address (None: no collector).
    journal: JournalCertificates | None
    collector_address: str | None
    host_spec: pulumi.Output[AppHostSpec]
    # The app version the hosts are to run, and this attempt of it (ReleaseRecord).
    release_id: pulumi.Output[str]
    release_attempt_id: pulumi.Output[str]


def build_foundation(config: StackConfig, app_package: LocalArtifact | None) -> Foundation:
    """`app_package` is the app's archive when the app ships as a file (appPackage)."""
    provider = volcengine.Provider("volcengine", region=config.region)
    in_region = pulumi.ResourceOptions(provider=provider)
    zones = config.zone_ids

    network = Network("app", NetworkArgs(zone_ids=zones, vpc_cidr=config.vpc_cidr), in_region)
    hosts_group = SecurityGroup(
        "app-hosts",
        SecurityGroupArgs(
            vpc_id=network.vpc_id,
            admin_cidrs=config.admin_cidrs,
            # Behind the CLB, its health checks reach the hosts' gate.
            extra_ingress_rules=(clb_health_check_rule(),) if config.fleet_enabled else (),
        ),
        in_region,
    )
    database = Postgres(
        "app-db",
        PostgresArgs(
            subnet_id=network.subnet_id_by_zone[zones[0]],
            primary_zone_id=zones[0],
            secondary_zone_id=zones[1],
            allowed_cidrs=network.subnet_cidr_blocks,
            node_spec=config.database_class,
            storage_gib=config.database_storage_gib,
            engine_version=config.database_engine_version,
            database_name=config.database_name,
            account_name=config.database_user,
            deletion_protection=config.database_deletion_protection,
        ),
        in_region,
    )
    storage = ObjectStorage(
        "app-files",
        ObjectStorageArgs(
            region=config.region,
            backups_prefix=config.backups_prefix,
            backups_expire_days=config.backups_expire_days,
            # The deploy step's own key, read-only on the hosts' reports.
            watch_access_key=config.release_watch_minutes > 0,
        ),
        in_region,
    )

    metrics = (
        HostMetrics(
            "app-metrics",
            HostMetricsArgs(
                contact_email=config.alarm_contact_email,
                contact_name=config.alarm_contact_name,
                workspace_type=f"vmp.standard.{config.metrics_retention}",
                error_percent=config.error_alarm_percent,
                latency_p99_seconds=config.latency_alarm_p99_seconds,
                disk_free_percent=config.disk_free_alarm_percent,
                backup_max_age_hours=config.backup_max_age_hours if config.backup_schedule != "off" else None,
            ),
            in_region,
        )
        if config.host_metrics
        else None
    )

    # Fleets only: their hosts have no public address to reach, and the NAT gateway the
    # collector installs its package through.
    collector_ip = collector_address(network.subnet_cidr_blocks[0]) if config.fleet_enabled and config.log_collector else None
    journal = (
        JournalCertificates("app-logs-pki", JournalCertificatesArgs(collector_address=collector_ip))
        if collector_ip is not None
        else None
    )

    def spec_from(values: dict[str, Any]) -> AppHostSpec:
        # One bucket, two keys: the hosts' (artifacts/, tls/) and the app's (the rest).
        where = {"endpoint_url": storage.bucket_s3_endpoint, "bucket": values["bucket"], "region": config.region}
        return config.host_spec(
            values["database_url"],
            store=S3StoreSpec(
                **where,
                access_key_id=SecretStr(values["hosts_key_id"]),
                secret_access_key=SecretStr(values["hosts_secret_key"]),
            ),
            app_package=app_package.ref if app_package is not None else None,
            object_storage=ObjectStorageSpec(
                **where, access_key_id=SecretStr(values["app_key_id"]), secret_access_key=SecretStr(values["app_secret_key"])
            ),
            environment=pulumi.get_stack(),
            metrics=MetricsShippingSpec(
                write_url=values["write_url"], username=metrics.username, password=SecretStr(values["write_password"])
            )
            if metrics is not None
            else None,
            journal_upload=JournalUploadSpec(
                url=journal.url,
                ca_pem=values["ca_pem"],
                client_cert_pem=values["client_cert_pem"],
                client_key_pem=SecretStr(values["client_key_pem"]),
            )
            if journal is not None
            else None,
        )

    # What only some stacks have: the metrics workspace's login, the journal's certificates.
    optional: dict[str, pulumi.Output[str]] = {}
    if metrics is not None:
        optional |= {"write_url": metrics.write_url, "write_password": metrics.password}
    if journal is not None:
        optional |= {
            "ca_pem": journal.ca_pem,
            "client_cert_pem": journal.client_cert_pem,
            "client_key_pem": journal.client_key_pem,
        }
    # The renderer is pure and takes plain values, so the spec is built inside an apply over
    # the (secret) database URL and bucket keys; the result stays secret.
    host_spec: pulumi.Output[AppHostSpec] = secret(
        pulumi.Output.all(
            database_url=database.database_url,
            bucket=storage.bucket_name,
            app_key_id=storage.app_access_key_id,
            app_secret_key=storage.app_secret_access_key,
            hosts_key_id=storage.hosts_access_key_id,
            hosts_secret_key=storage.hosts_secret_access_key,
            **optional,
        ).apply(spec_from)
    )
    # The app version, outside the user data: a new one rewrites this object and no host.
    artifacts = HostArtifacts(
        "app-artifacts",
        HostArtifactsArgs(
            bucket_name=storage.bucket_name,
            artifacts=(app_package,) if app_package is not None else (),
            host_spec=host_spec,
        ),
        in_region,
    )
    assert artifacts.release is not None
    release_id = artifacts.release.apply(lambda record: record.id)
    attempt_id = artifacts.release.apply(lambda record: record.attempt_id)
    return Foundation(
        in_region, network, hosts_group, database, storage, artifacts, metrics, journal, collector_ip, host_spec,
        release_id, attempt_id,
    )
