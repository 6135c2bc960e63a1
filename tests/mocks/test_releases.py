"""A new app version is a new release record, not new hosts.

Under mocks, two runs that differ only in the app's version: every host resource registers
the same inputs (so `pulumi up` replaces none and changes no user data), while the record the
hosts follow (app_host.release) changes in place.

In place, from the provider's source (terraform-provider-volcengine@8cff1813,
volcengine/tos/object/resource_volcengine_tos_object.go): `object_name` is ForceNew; `content`
is not, and ModifyResource (service_volcengine_tos_object.go) uploads again when `content`
changed. So the same key with new content is an update of one object.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from fastapi_deploy.app_host.release import ReleaseRecord, record_key
from fastapi_deploy.testing import ProgramRun
from tests.mocks.harness import run_main

OWN_APP = {
    "appPackage": "",
    "appAsgiPath": "notes_api.main:app",
    "appMigrationCommand": "notes-api-migrate",
    "appReadinessPath": "/readyz",
    "appPackageIndexUrl": "https://pypi.notes-demo.cn/simple/",
}
HOST_TYPES = (
    "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration",
    "volcengine:ecs/instance:Instance",
    "docker:index/container:Container",
)
RECORD_OBJECT = "app-artifacts-release"


def _hosts(run: ProgramRun) -> dict[str, dict[str, Any]]:
    found = {item.name: item.inputs for typ in HOST_TYPES for item in run.of_type(typ)}
    assert found, "no host resource registered"
    return found


def _record(run: ProgramRun) -> tuple[dict[str, Any], ReleaseRecord]:
    item = run.named(RECORD_OBJECT)
    return item.inputs, ReleaseRecord.from_json(item.inputs["content"].encode())


@pytest.mark.parametrize("overrides", [{}, {"fleetEnabled": False}], ids=["fleet", "single host"])
def test_a_new_version_changes_the_record_and_no_host(overrides: dict[str, Any]) -> None:
    v1 = run_main("prod", {**OWN_APP, **overrides, "appRequirement": "notes-api==1.0.0"})
    v2 = run_main("prod", {**OWN_APP, **overrides, "appRequirement": "notes-api==1.1.0"})
    # Byte for byte: user data, image, type, everything a host is made from.
    assert json.dumps(_hosts(v1), sort_keys=True) == json.dumps(_hosts(v2), sort_keys=True)
    (object_1, record_1), (object_2, record_2) = _record(v1), _record(v2)
    assert (record_1.label, record_2.label) == ("notes-api@1.0.0", "notes-api@1.1.0")
    assert record_1.requirements.splitlines()[-1] == "notes-api==1.0.0"
    assert record_2.requirements.splitlines()[-1] == "notes-api==1.1.0"
    assert record_1.id != record_2.id
    # The same object (name and ForceNew key), other content: an update in place.
    assert object_1["objectName"] == object_2["objectName"] == record_key("api")
    assert {key: value for key, value in object_1.items() if key != "content"} == {
        key: value for key, value in object_2.items() if key != "content"
    }


def test_the_rollout_settings_change_the_record_but_not_its_id() -> None:
    """Batch size and readiness timeout say how to roll out, not what runs: hosts already on
    the release do not install it again."""
    one = _record(run_main("prod", {**OWN_APP, "appRequirement": "notes-api==1.0.0"}))[1]
    three = _record(run_main("prod", {**OWN_APP, "appRequirement": "notes-api==1.0.0", "releaseBatchSize": 3}))[1]
    assert (one.batch_size, three.batch_size) == (1, 3)
    assert one.id == three.id


def test_the_record_is_secret_in_the_state() -> None:
    """It may name a private index with its credentials (appPackageIndexUrl)."""
    run = run_main("prod", {**OWN_APP, "appRequirement": "notes-api==1.0.0"})
    assert run.named(RECORD_OBJECT).is_secret("content")
