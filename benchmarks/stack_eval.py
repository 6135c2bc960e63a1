"""How long evaluating the prod stack takes under Pulumi mocks, as the number of hosts grows.

What "hosts" means: a fleet's size is a number in the scaling group (its hosts are created by
Volcengine, not by Pulumi), so growing it would not change what the program evaluates. The
program's work grows with hosts that Pulumi itself creates: N app hosts in single-host
style, each an AppHost (Vm, ECS instance, EIP, EIP association, image lookup) with its own
rendered user data, on the prod stack's shared network, security group, database, bucket
and monitoring (whose rules then list N instances). The real prod stack (`__main__.py` with
Pulumi.prod.yaml, a fleet) is measured as a reference row.

Each row runs in its own process, so peak RSS belongs to that row: one warm-up evaluation,
then the median of --runs timed evaluations.

    .venv/bin/python benchmarks/stack_eval.py [--hosts 1 10 50] [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]


def _program(host_count: int) -> Any:
    from fastapi_deploy.artifacts import app_package_artifact
    from fastapi_deploy.components import AppHost, AppHostArgs, Monitoring, MonitoringArgs
    from stack import build_foundation
    from tests.mocks.harness import load_stack_file_config

    config = load_stack_file_config("prod", {"fleetEnabled": False})
    package = app_package_artifact(config.app_package, REPO)

    def program() -> None:
        foundation = build_foundation(config, package)
        zones = config.zone_ids
        hosts = [
            AppHost(
                f"app-host-{index}",
                AppHostArgs(
                    host_spec=foundation.host_spec,
                    subnet_id=foundation.network.subnet_id_by_zone[zones[index % len(zones)]],
                    security_group_ids=(foundation.hosts_group.security_group_id,),
                    instance_type=config.instance_type,
                ),
                foundation.in_region,
            )
            for index in range(host_count)
        ]
        Monitoring(
            "app-alarms",
            MonitoringArgs(
                region=config.region,
                contact_email=config.alarm_contact_email,
                host_instance_ids=tuple(host.instance_id for host in hosts),
                database_instance_id=foundation.database.instance_id,
            ),
            foundation.in_region,
        )

    return program


def _child(label: str, runs: int) -> dict[str, Any]:
    sys.path.insert(0, str(REPO))
    from tests.mocks.harness import run_main, run_program

    def once() -> int:
        if label == "prod":
            return len(run_main("prod").registrations)
        return len(run_program(_program(int(label)), stack="bench").registrations)

    once()  # warm-up: imports and first-use caches are not what we measure
    timings = []
    count = 0
    for _ in range(runs):
        start = time.perf_counter()
        count = once()
        timings.append(time.perf_counter() - start)
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "label": label,
        "resources": count,
        "seconds": statistics.median(timings),
        "peak_rss_mib": peak_kib / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--hosts", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.child:
        print(json.dumps(_child(options.child, options.runs)))
        return
    rows = []
    for label in ["prod", *map(str, options.hosts)]:
        result = subprocess.run(
            [sys.executable, __file__, "--child", label, "--runs", str(options.runs)],
            check=True,
            capture_output=True,
            text=True,
            cwd=REPO,
        )
        rows.append(json.loads(result.stdout.strip().splitlines()[-1]))
    print(
        f"Prod stack under Pulumi mocks, median of {options.runs} runs after one warm-up, one process per row"
    )
    print(f"{'stack':<32} {'resources':>9} {'wall s':>8} {'s/resource':>10} {'peak RSS MiB':>13}")
    for row in rows:
        name = (
            "prod (fleet, Pulumi.prod.yaml)"
            if row["label"] == "prod"
            else f"prod, {row['label']} app host(s)"
        )
        print(
            f"{name:<32} {row['resources']:>9} {row['seconds']:>8.3f} "
            f"{row['seconds'] / row['resources']:>10.4f} {row['peak_rss_mib']:>13.1f}"
        )


if __name__ == "__main__":
    main()
