"""The examples/ programs use the components as a library. The template is run as a user
would have it: copied out of the repository, next to a `components/` folder of the user's
own, under the stock mocks helper."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import yaml

from fastapi_deploy.testing import run_stack
from tests.mocks.harness import REPO, written_files

EXAMPLE = REPO / "examples" / "fleet-behind-clb"


def copied_example(tmp_path: Path) -> Path:
    project = tmp_path / "my-fleet"
    shutil.copytree(EXAMPLE, project)
    # A folder named like the library's subpackages, as users' programs often have: it must
    # not shadow fastapi_deploy.components (the old top-level name collided with it).
    own = project / "components"
    own.mkdir()
    (own / "__init__.py").write_text("raise ImportError('the user\\'s own components/ was imported')\n")
    # The stack file's relative appPackage points into the repository; a copy names a path.
    stack_file = project / "Pulumi.demo.yaml"
    document = yaml.safe_load(stack_file.read_text())
    document["config"]["fastapi-fleet-example:appPackage"] = str(REPO / "app")
    stack_file.write_text(yaml.safe_dump(document))
    return project


def test_the_example_runs_as_a_copy_outside_the_repository(tmp_path: Path) -> None:
    project = copied_example(tmp_path)
    assert REPO not in project.parents
    run = run_stack(project, "demo")
    counts = run.type_counts()
    for component in (
        "fastapi-deploy:network:Network",
        "fastapi-deploy:network:SecurityGroup",
        "fastapi-deploy:database:Postgres",
        "fastapi-deploy:storage:ObjectStorage",
        "fastapi-deploy:storage:HostArtifacts",
        "fastapi-deploy:network:LoadBalancer",
        "fastapi-deploy:network:NatGateway",
        "fastapi-deploy:compute:AppFleet",
    ):
        assert counts[component] == 1, component
    # Private hosts get their way out before they boot.
    snat = {item.urn for item in run.of_type("volcengine:nat/snatEntry:SnatEntry")}
    assert len(snat) == 2 and snat <= set(run.one("fastapi-deploy:compute:AppFleet").dependencies)
    group = run.one("volcengine:autoscaling/scalingGroup:ScalingGroup").inputs
    assert {item["port"] for item in group["serverGroupAttributes"]} == {80, 443}
    assert run.one("pulumi:providers:volcengine").inputs["region"] == "cn-shanghai"
    assert run.one("volcengine:rds_postgresql/instance:Instance").protect is False
    configuration = run.one("volcengine:autoscaling/scalingConfiguration:ScalingConfiguration")
    cloud_config = base64.b64decode(configuration.inputs["userData"]).decode()
    assert cloud_config.startswith("#cloud-config") and configuration.is_secret("userData")
    # The app the template ships is the one its config names, uploaded where the hosts fetch it.
    objects = [item.inputs["objectName"] for item in run.of_type("volcengine:tos/bucketObject:BucketObject")]
    assert any(key.endswith("/app-src.tar.gz") for key in objects)
    # And the release record the hosts follow, naming that file, before the fleet boots.
    record = run.named("demo-artifacts-release")
    assert record.inputs["objectName"] == "releases/api/current.json"
    assert json.loads(record.inputs["content"])["artifact_key"] in objects
    assert record.urn in run.one("fastapi-deploy:compute:AppFleet").dependencies
    assert run.outputs == {"load_balancer_address": "203.0.113.10", "scaling_group_id": "demo-fleet-group-id"}
    # Behind the CLB: the health gate runs, and only the CLB's health-check range reaches it.
    assert "HEALTH_GATE_PORT=8090" in written_files(configuration)["/etc/app-host/host.conf"]
    gate_rules = [
        item.inputs["cidrIp"]
        for item in run.of_type("volcengine:vpc/securityGroupRule:SecurityGroupRule")
        if item.inputs["portStart"] == 8090
    ]
    assert gate_rules == ["100.64.0.0/10"]


def test_the_example_pins_its_own_virtualenv_and_names_the_library() -> None:
    project = yaml.safe_load((EXAMPLE / "Pulumi.yaml").read_text())
    assert project["runtime"]["options"]["virtualenv"] == "venv"
    requirements = [
        line for line in (EXAMPLE / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")
    ]
    assert requirements == ["-e ../.."]
