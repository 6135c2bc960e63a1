"""FleetRoll: after a change only new hosts get (user data, image, instance type, disks,
security groups), `pulumi up` replaces the fleet's running hosts batch by batch, each new batch
healthy on every CLB listener before as many of the oldest hosts leave.

Volcengine Auto Scaling has no instance refresh, so this component runs
`fastapi_deploy.fleet_roll` where `pulumi up` runs, with the deployer's Volcengine key (the
provider's own `VOLCENGINE_ACCESS_KEY` / `VOLCENGINE_SECRET_KEY` from the environment, or the
key given here). It runs again when the fleet's host configuration changes (AppFleet
`host_configuration_digest`); a change of its own settings alone replaces nothing, because the
command compares the configuration it rolled last time (its previous output) with this one.
"""

from __future__ import annotations

import pulumi
import pulumi_command as command
from pydantic import Field

from fastapi_deploy.components._base import ComponentArgs, StrInput, child, project_token
from fastapi_deploy.components.release_watch import module_command

__all__ = ["FleetRoll", "FleetRollArgs"]


class FleetRollArgs(ComponentArgs):
    scaling_group_id: StrInput = Field(description="The fleet's scaling group (AppFleet.scaling_group_id). Required.")
    host_configuration_digest: StrInput = Field(
        description="What new hosts boot from (AppFleet.host_configuration_digest). Required."
    )
    listener_ids: tuple[StrInput, ...] = Field(
        min_length=1,
        description="CLB listeners a new host must be healthy on before an old one leaves. Required.",
    )
    region: str = Field(description="The region of the group and the load balancer. Required.")
    batch_size: int = Field(
        default=1, ge=1, le=20, description="Hosts replaced at once, 1 to 20 (RemoveInstances' limit). Default 1."
    )
    health_timeout_seconds: int = Field(
        default=900,
        ge=60,
        le=7200,
        description="How long a new batch has to boot and turn healthy before the roll removes it "
        "and fails the update. Default 900.",
    )
    access_key: StrInput | None = Field(
        default=None,
        description="The Volcengine key that drives Auto Scaling (secret). Default None: the "
        "VOLCENGINE_ACCESS_KEY the provider reads from the environment.",
    )
    secret_key: StrInput | None = Field(
        default=None, description="Its secret (secret). Default None: VOLCENGINE_SECRET_KEY from the environment."
    )


class FleetRoll(pulumi.ComponentResource):
    """A local command, re-run when the fleet's host configuration changes.

    On delete: nothing to undo (the hosts it made belong to the group).
    """

    output: pulumi.Output[str]

    def __init__(self, name: str, args: FleetRollArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__(project_token("deploy", "FleetRoll"), name, None, opts)
        script = module_command("fastapi_deploy.fleet_roll")
        environment: dict[str, pulumi.Input[str]] = {
            "ROLL_SCALING_GROUP_ID": args.scaling_group_id,
            "ROLL_CONFIGURATION": args.host_configuration_digest,
            "ROLL_LISTENER_IDS": pulumi.Output.all(*args.listener_ids).apply(lambda ids: ",".join(ids)),
            "ROLL_BATCH_SIZE": str(args.batch_size),
            "ROLL_HEALTH_TIMEOUT_SECONDS": str(args.health_timeout_seconds),
            "VOLCENGINE_REGION": args.region,
        }
        if args.access_key is not None and args.secret_key is not None:
            environment["VOLCENGINE_ACCESS_KEY"] = pulumi.Output.secret(args.access_key)
            environment["VOLCENGINE_SECRET_KEY"] = pulumi.Output.secret(args.secret_key)
        roll = command.local.Command(
            f"{name}-roll",
            create=script,
            update=script,
            environment=environment,
            opts=child(self),
        )
        self.output = roll.stdout
        self.register_outputs({"output": self.output})
