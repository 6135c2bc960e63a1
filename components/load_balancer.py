"""LoadBalancer: a public CLB passing TCP 80 and 443 through to the hosts' Nginx.

TLS ends on the hosts, so the listeners are TCP, not HTTP/HTTPS: the CLB never sees a
certificate or a request line.

Health checks: a TCP listener's check is a TCP handshake (pulumi-volcengine 0.0.47,
`ListenerHealthCheckArgs`: its `uri`/`domain`/`http_code` fields belong to HTTP(S)
listeners), to the port the check names (1-65535, terraform-provider-volcengine,
clb/listener/resource_volcengine_listener.go, `health_check.port`). A handshake with 443
would say nothing about the app: Nginx accepts there even when the app is dead. So both
listeners check the hosts' health gate (HEALTH_GATE_PORT), a port each host holds open only
while its app answers through Nginx (app_host/health_gate.py), reachable only from the CLB's
health-check range. A host whose app dies leaves both server groups within about
gate fall (3 s) + interval x unhealthy threshold (2 s x 3) and returns when it recovers.
`/healthz` itself is probed end to end by the HealthzGate after a deploy.
"""

from __future__ import annotations

import pulumi
import pulumi_volcengine as volcengine
from pydantic import Field, model_validator

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token
from fastapi_deploy.stack_model.host_spec import HEALTH_GATE_PORT

__all__ = ["LISTENER_PORTS", "LoadBalancer", "LoadBalancerArgs"]

# Listener port -> the backend port it forwards to (the same: Nginx listens on both).
LISTENER_PORTS: dict[str, int] = {"http": 80, "https": 443}
# The hosts' health gate: open only while the app answers.
HEALTH_CHECK_PORT = HEALTH_GATE_PORT


class LoadBalancerArgs(ComponentArgs):
    vpc_id: StrInput = Field(description="VPC of the backends. Required.")
    subnet_id: StrInput = Field(description="Subnet the CLB's private side lives in. Required.")
    master_zone_id: str = Field(
        default="", description="Primary zone of the CLB. Default '': chosen by Volcengine."
    )
    slave_zone_id: str = Field(
        default="",
        description="Standby zone the CLB fails over to. Default '': chosen by Volcengine.",
    )
    load_balancer_spec: str = Field(
        default="small_1",
        pattern=r"^(small|medium|large)_[12]$",
        description="CLB specification (connection and QPS limits). Default small_1.",
    )
    public_bandwidth_mbps: int = Field(
        default=10,
        ge=1,
        le=200,
        description="Peak bandwidth of the CLB's public address, in Mbit/s (billed by traffic, "
        "which Volcengine allows up to 200). Default 10.",
    )
    health_check_interval_seconds: int = Field(
        default=2, ge=1, le=300, description="Seconds between health checks. Default 2 (the API's own)."
    )
    health_check_timeout_seconds: int = Field(
        default=2,
        ge=1,
        le=60,
        description="Seconds a check may take; at most the interval. Default 2 (the API's own).",
    )
    healthy_threshold: int = Field(
        default=3,
        ge=2,
        le=10,
        description="Passing checks before a host receives traffic. Default 3.",
    )
    unhealthy_threshold: int = Field(
        default=3,
        ge=2,
        le=10,
        description="Failing checks before a host stops receiving traffic. Default 3.",
    )
    health_check_port: int = Field(
        default=HEALTH_CHECK_PORT,
        ge=1,
        le=65535,
        description=f"Port the check's handshake goes to. Default {HEALTH_CHECK_PORT}, the hosts' "
        "health gate; 443 only while moving a fleet whose hosts have no gate yet.",
    )
    connection_drain_seconds: int = Field(
        default=30,
        ge=0,
        le=900,
        description="Seconds a removed host keeps its open connections. Default 30; 0 turns draining off.",
    )


    @model_validator(mode="after")
    def _timeout_within_interval(self) -> LoadBalancerArgs:
        # BytePlus CLB docs, "Editing health check": the detect interval must be greater
        # than or equal to the response timeout.
        if self.health_check_timeout_seconds > self.health_check_interval_seconds:
            raise ValueError(
                f"health_check_timeout_seconds {self.health_check_timeout_seconds} is longer than "
                f"health_check_interval_seconds {self.health_check_interval_seconds}; the CLB "
                "refuses a check timeout longer than its interval: lower the timeout or raise "
                "the interval"
            )
        return self


class LoadBalancer(pulumi.ComponentResource):
    """A public CLB with TCP listeners on 80 and 443, one server group per port.

    The CLB has no security group of its own in this provider; hosts behind it keep their
    own group (80/443 open, the CLB passes the client's address through). On delete: the
    CLB, its listeners and its public address are released; the address is not kept.
    """

    load_balancer_id: pulumi.Output[str]
    load_balancer_address: pulumi.Output[str]
    server_group_ids: dict[int, pulumi.Output[str]]
    listener_ids: dict[int, pulumi.Output[str]]

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("network", "LoadBalancer"), name, None, opts)
        clb = volcengine.clb.Clb(
            f"{name}-clb",
            load_balancer_name=f"{name}-clb",
            type="public",
            vpc_id=args.vpc_id,
            subnet_id=args.subnet_id,
            load_balancer_spec=args.load_balancer_spec,
            load_balancer_billing_type="PostPaid",
            master_zone_id=args.master_zone_id or None,
            slave_zone_id=args.slave_zone_id or None,
            eip_billing_config=volcengine.clb.ClbEipBillingConfigArgs(
                isp="BGP",
                eip_billing_type="PostPaidByTraffic",
                bandwidth=args.public_bandwidth_mbps,
            ),
            description="Managed by Pulumi for fastapi-deploy, TCP 80 and 443 to the hosts Nginx",
            opts=child(self),
        )
        self.server_group_ids = {}
        self.listener_ids = {}
        for label, port in LISTENER_PORTS.items():
            group = volcengine.clb.ServerGroup(
                f"{name}-{label}",
                load_balancer_id=clb.id,
                server_group_name=f"{name}-{label}",
                type="instance",
                description=f"Hosts Nginx on port {port}",
                opts=child(self),
            )
            listener = volcengine.clb.Listener(
                f"{name}-{label}-listener",
                load_balancer_id=clb.id,
                listener_name=f"{name}-{label}",
                protocol="TCP",
                port=port,
                server_group_id=group.id,
                enabled="on",
                scheduler="wrr",
                connection_drain_enabled="on" if args.connection_drain_seconds else "off",
                connection_drain_timeout=args.connection_drain_seconds or None,
                health_check=volcengine.clb.ListenerHealthCheckArgs(
                    enabled="on",
                    port=args.health_check_port,
                    interval=args.health_check_interval_seconds,
                    timeout=args.health_check_timeout_seconds,
                    healthy_threshold=args.healthy_threshold,
                    un_healthy_threshold=args.unhealthy_threshold,
                ),
                opts=child(self),
            )
            self.server_group_ids[port] = group.id
            self.listener_ids[port] = listener.id
        self.load_balancer_id = clb.id
        self.load_balancer_address = clb.eip_address
        self.register_outputs(
            {
                "load_balancer_id": self.load_balancer_id,
                "load_balancer_address": self.load_balancer_address,
                "server_group_ids": {str(port): group for port, group in self.server_group_ids.items()},
                "listener_ids": {str(port): listener for port, listener in self.listener_ids.items()},
            }
        )
