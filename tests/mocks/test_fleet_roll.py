"""The fleet roll under mocks: a change only new hosts get moves what the roll compares, a new
app version or a change of the roll's own settings does not, and the deployer's key reaches it
only as a secret.

In place, from the provider's source (terraform-provider-volcengine@8cff1813,
volcengine/autoscaling/scaling_configuration/resource_volcengine_scaling_configuration.go): of
the scaling configuration's arguments only `scaling_group_id` is ForceNew; `user_data`,
`image_id` and the rest go through ModifyScalingConfiguration (service_...go) and keep the id.
Running hosts keep what they booted from, which is why a roll is needed at all, and why it
cannot tell old hosts by their configuration id.
"""

from __future__ import annotations

from typing import Any

from fastapi_deploy.testing import ProgramRun
from tests.mocks.harness import run_main
from tests.mocks.test_releases import OWN_APP

ROLL = "app-fleet-roll-roll"


def roll_environment(run: ProgramRun) -> dict[str, Any]:
    return dict(run.named(ROLL).inputs["environment"])


def test_the_roll_drives_the_fleets_group_against_both_listeners() -> None:
    run = run_main("prod")
    environment = roll_environment(run)
    # The mocks give each resource the id "<name>-id".
    listeners = sorted(f"{item.name}-id" for item in run.of_type("volcengine:clb/listener:Listener"))
    assert environment["ROLL_SCALING_GROUP_ID"] == "app-fleet-group-id"
    assert sorted(environment["ROLL_LISTENER_IDS"].split(",")) == listeners and len(listeners) == 2
    assert environment["VOLCENGINE_REGION"] == "cn-beijing"
    assert (environment["ROLL_BATCH_SIZE"], environment["ROLL_HEALTH_TIMEOUT_SECONDS"]) == ("1", "900")
    command = run.named(ROLL).inputs
    assert command["create"].endswith(" -m fastapi_deploy.fleet_roll") and command["update"] == command["create"]
    # It has no triggers: a trigger would replace the command (create again), and the command
    # tells a changed configuration from its previous output, which only an update passes.
    assert not command.get("triggers")
    # No key of its own unless the stack gives one: the provider's environment variables.
    assert "VOLCENGINE_ACCESS_KEY" not in environment
    # Nothing secret in it then: the digest of the (secret) user data is a hash, shown in a
    # preview so a reviewer sees whether a roll is coming.
    assert not run.named(ROLL).is_secret("environment")


def test_the_roll_runs_after_the_fleet_and_after_the_release_is_out() -> None:
    run = run_main("prod")
    roll = run.one("fastapi-deploy:deploy:FleetRoll")
    fleet = run.one("fastapi-deploy:compute:AppFleet")
    watch = run.one("fastapi-deploy:deploy:ReleaseWatch")
    needed = {item.urn for item in run.descendants_of(fleet.urn)} | {item.urn for item in run.descendants_of(watch.urn)}
    assert needed <= set(roll.dependencies)


def test_a_key_from_the_stack_config_reaches_the_roll_as_a_secret() -> None:
    run = run_main(
        "prod",
        {"volcengine:accessKey": "AKLTdeployer", "volcengine:secretKey": "deployer-secret"},
        secret_overrides={"volcengine:accessKey", "volcengine:secretKey"},
    )
    environment = roll_environment(run)
    assert environment["VOLCENGINE_ACCESS_KEY"] == "AKLTdeployer"
    assert environment["VOLCENGINE_SECRET_KEY"] == "deployer-secret"
    assert run.named(ROLL).is_secret("environment")


def test_what_new_hosts_boot_from_moves_the_rolled_configuration() -> None:
    base = roll_environment(run_main("prod"))["ROLL_CONFIGURATION"]
    # The user data (worker count on the hosts), the instance type, the disk.
    for change in ({"workers": 3}, {"instanceType": "ecs.g3il.xlarge"}, {"systemDiskGib": 60}, {"imageId": "image-ybqi99s7yq8rx7mnk44b"}):
        assert roll_environment(run_main("prod", change))["ROLL_CONFIGURATION"] != base, change


def test_a_new_app_version_or_roll_setting_rolls_no_host() -> None:
    v1 = roll_environment(run_main("prod", {**OWN_APP, "appRequirement": "notes-api==1.0.0"}))
    v2 = roll_environment(run_main("prod", {**OWN_APP, "appRequirement": "notes-api==1.1.0"}))
    assert v1["ROLL_CONFIGURATION"] == v2["ROLL_CONFIGURATION"]
    wider = roll_environment(run_main("prod", {**OWN_APP, "appRequirement": "notes-api==1.0.0", "fleetRollBatchSize": 2}))
    assert wider["ROLL_CONFIGURATION"] == v1["ROLL_CONFIGURATION"] and wider["ROLL_BATCH_SIZE"] == "2"


def test_no_roll_when_switched_off_or_without_a_fleet() -> None:
    assert not run_main("prod", {"fleetRollHealthMinutes": 0}).of_type("fastapi-deploy:deploy:FleetRoll")
    assert not run_main("prod", {"fleetEnabled": False}).of_type("fastapi-deploy:deploy:FleetRoll")


def test_a_newer_public_image_build_rolls_nothing_but_a_chosen_image_does() -> None:
    configuration = "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration"
    assert run_main("prod").one(configuration).ignore_changes == ["imageId"]
    assert run_main("prod", {"imageId": "image-ybqi99s7yq8rx7mnk44b"}).one(configuration).ignore_changes == []
