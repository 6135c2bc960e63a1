"""The examples/ programs use the components as a library; they must run under mocks."""

from __future__ import annotations

import base64
import runpy

from tests.mocks.harness import REPO, run_program

EXAMPLE = REPO / "examples" / "fleet-behind-clb" / "__main__.py"


def test_fleet_example_composes_the_components() -> None:
    run = run_program(
        lambda: runpy.run_path(str(EXAMPLE), run_name="__main__"),
        project="fastapi-fleet-example",
        stack="demo",
    )
    counts = run.type_counts()
    for component in (
        "fastapi-deploy:network:Network",
        "fastapi-deploy:network:SecurityGroup",
        "fastapi-deploy:database:Postgres",
        "fastapi-deploy:network:LoadBalancer",
        "fastapi-deploy:compute:AppFleet",
    ):
        assert counts[component] == 1, component
    group = run.one("volcengine:autoscaling/scalingGroup:ScalingGroup").inputs
    assert {item["port"] for item in group["serverGroupAttributes"]} == {80, 443}
    assert run.one("pulumi:providers:volcengine").inputs["region"] == "cn-shanghai"
    assert run.one("volcengine:rds_postgresql/instance:Instance").protect is False
    configuration = run.one("volcengine:autoscaling/scalingConfiguration:ScalingConfiguration")
    cloud_config = base64.b64decode(configuration.inputs["userData"]).decode()
    assert cloud_config.startswith("#cloud-config") and configuration.is_secret("userData")
    assert run.outputs == {"load_balancer_address": "203.0.113.10", "scaling_group_id": "demo-fleet-group-id"}
