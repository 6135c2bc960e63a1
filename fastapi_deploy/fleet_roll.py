"""Rolling replacement of a fleet's hosts, for changes only new hosts get (user data, image,
instance type, disks, security groups): Volcengine Auto Scaling has no instance refresh.

One batch at a time: raise the group's desired count by the batch, wait until the new hosts
are in service and healthy on every CLB listener, then remove as many of the oldest hosts
(RemoveInstances, which lowers the desired count again). The fleet never has fewer healthy
hosts than before. A batch that does not become healthy in time is removed again, the old hosts
keep serving, and the roll fails naming the hosts and what the load balancer says of them.

Which hosts are old: the provider modifies the scaling configuration in place
(ModifyScalingConfiguration keeps its id: terraform-provider-volcengine@8cff1813,
autoscaling/scaling_configuration, only scaling_group_id is ForceNew), so a host cannot be told
by its configuration id. When the deploy step runs again because the configuration changed
(its previous output names the configuration it left the fleet on), every host that exists is
old. On its first run it goes by the service's stamps: a host created before the
configuration's last update (UpdatedAt) is old, so a new fleet is not replaced at birth and an
existing one is rolled when the first deploy with this step also changed its hosts. Hosts
attached by hand (CreationType Attached) are left alone.

While it rolls, the group's alarm tasks (the CPU policies) are suspended so they do not add or
remove hosts under it; the group's max is raised by the batch if the group is full, and both
are put back at the end, whatever happened.

Runs where `pulumi up` runs (components/fleet_roll.py), with the deployer's Volcengine key:

    python -m fastapi_deploy.fleet_roll   (settings in the environment, see `main`)
"""

from __future__ import annotations

import datetime
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = [
    "FleetApi",
    "GroupState",
    "Host",
    "RollFailed",
    "RollReport",
    "VolcengineFleetApi",
    "main",
    "old_hosts",
    "roll",
]

# The group's alarm tasks: the CPU scale-out and scale-in policies (AppFleet).
SUSPENDED_PROCESSES = ("AlarmNotification",)
# Backend status on a CLB listener that counts as healthy (DescribeListenerHealth).
HEALTHY = "Up"
# RemoveInstances takes InstanceIds.1 to InstanceIds.20 (volcengine.com/docs/6617/109834).
MAX_BATCH = 20


class RollFailed(Exception):
    """A batch did not become healthy, or the group could not be driven; the message says
    which hosts and why."""


@dataclass(frozen=True)
class GroupState:
    lifecycle_state: str
    desired: int
    min_size: int
    max_size: int
    # When the active scaling configuration was last changed (created, if never modified).
    configuration_changed_at: datetime.datetime
    # Processes someone already suspended (the roll leaves them as they are).
    suspended: tuple[str, ...] = ()


@dataclass(frozen=True)
class Host:
    instance_id: str
    status: str
    created_at: datetime.datetime
    creation_type: str = "AutoCreated"


class FleetApi(Protocol):
    """What the roll needs from Auto Scaling and the CLB."""

    def group(self) -> GroupState: ...

    def hosts(self) -> list[Host]: ...

    def set_capacity(self, desired: int, max_size: int) -> None: ...

    def remove(self, instance_ids: Sequence[str]) -> None: ...

    def suspend(self, processes: Sequence[str]) -> None: ...

    def resume(self, processes: Sequence[str]) -> None: ...

    def health(self, instance_ids: Iterable[str]) -> dict[str, list[str]]:
        """Each instance's status on every listener (one entry per listener; none yet when
        the listener does not know it)."""
        ...


@dataclass(frozen=True)
class RollReport:
    replaced: tuple[str, ...]
    added: tuple[str, ...]

    def describe(self) -> str:
        if not self.replaced:
            return "no host was created before the scaling configuration's last change: nothing to replace"
        return f"replaced {len(self.replaced)} host(s) ({', '.join(self.replaced)}) with {', '.join(self.added)}"


def parse_time(stamp: str) -> datetime.datetime:
    """The service's stamps (ISO 8601, with an offset or Z); naive ones are UTC."""
    parsed = datetime.datetime.fromisoformat(stamp.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def old_hosts(hosts: Iterable[Host], changed_at: datetime.datetime) -> list[Host]:
    """Hosts the group created before its configuration last changed, oldest first."""
    old = [
        host
        for host in hosts
        if host.creation_type == "AutoCreated" and host.created_at < changed_at and host.status == "InService"
    ]
    return sorted(old, key=lambda host: (host.created_at, host.instance_id))


@dataclass
class _Waiter:
    timeout_seconds: float
    poll_seconds: float
    clock: Callable[[], float]
    sleep: Callable[[float], None]

    def until(self, what: str, check: Callable[[], Any]) -> Any:
        """Polls `check` until it returns something true; RollFailed naming `what` at the
        timeout. An API error (throttling, a dropped connection) is retried until then; a
        RollFailed from `check` ends the wait at once."""
        deadline = self.clock() + self.timeout_seconds
        last_error = ""
        while True:
            try:
                result = check()
            except RollFailed:
                raise
            except Exception as error:
                if not _transient(error):
                    raise
                result, last_error = None, f" (last API error: {type(error).__name__}: {error})"
            if result:
                return result
            if self.clock() >= deadline:
                raise RollFailed(f"{what}: not within {self.timeout_seconds:.0f} s{last_error}")
            self.sleep(self.poll_seconds)


def _transient(error: Exception) -> bool:
    """Throttling, a server error or a dropped connection: worth another try. A refused
    request (a wrong key, a bad parameter: HTTP 4xx) is not."""
    status = getattr(error, "status", None)
    return not isinstance(status, int) or status == 429 or status >= 500


def _active(api: FleetApi, waiter: _Waiter) -> GroupState:
    """The group, once no scaling activity holds it (Locked while one runs)."""

    def check() -> GroupState | None:
        group = api.group()
        if group.lifecycle_state in ("InActive", "Deleting"):
            raise RollFailed(
                f"the scaling group is {group.lifecycle_state}: enable it (ScalingGroupEnabler) before rolling"
            )
        return group if group.lifecycle_state == "Active" else None

    return waiter.until("the scaling group to finish its scaling activity", check)  # type: ignore[no-any-return]


def roll(
    api: FleetApi,
    *,
    batch_size: int = 1,
    health_timeout_seconds: float = 900,
    poll_seconds: float = 10,
    changed_after: datetime.datetime | None = None,
    log: Callable[[str], None] = print,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> RollReport:
    """Replaces every old host, `batch_size` at a time. `changed_after`: treat hosts created
    before it as old too (for a service that does not stamp configuration changes)."""
    if not 1 <= batch_size <= MAX_BATCH:
        raise RollFailed(
            f"batch_size={batch_size}: replace 1 to {MAX_BATCH} hosts at a time (RemoveInstances takes at most {MAX_BATCH})"
        )
    waiter = _Waiter(health_timeout_seconds, poll_seconds, clock, sleep)
    group = _active(api, waiter)
    changed_at = max(group.configuration_changed_at, changed_after) if changed_after else group.configuration_changed_at
    old = old_hosts(api.hosts(), changed_at)
    if not old:
        report = RollReport((), ())
        log(report.describe())
        return report
    log(
        f"{len(old)} host(s) predate the scaling configuration's change ({changed_at.isoformat()}): "
        f"replacing {batch_size} at a time"
    )
    # Only what is not suspended already: an operator's own suspension stays theirs.
    suspended = tuple(process for process in SUSPENDED_PROCESSES if process not in group.suspended)
    if suspended:
        api.suspend(suspended)
    original_max = group.max_size
    replaced: list[str] = []
    added: list[str] = []
    try:
        while old:
            batch, old = old[:batch_size], old[batch_size:]
            fresh = _add_healthy(api, waiter, len(batch), log)
            added.extend(fresh)
            _remove(api, waiter, [host.instance_id for host in batch])
            replaced.extend(host.instance_id for host in batch)
            log(f"replaced {', '.join(host.instance_id for host in batch)} with {', '.join(fresh)}")
    finally:
        # Put the group back as it was, whatever happened; a failure here is logged, and the
        # error that stopped the roll (if any) is the one raised.
        failing = sys.exc_info()[1] is not None
        try:
            group = _active(api, waiter)
            if group.max_size != original_max:
                api.set_capacity(group.desired, max(original_max, group.desired))
            if group.desired > original_max:
                log(f"the group holds {group.desired} hosts, above its max {original_max}: remove the extra ones")
        except Exception as error:
            log(f"could not put the group's max back to {original_max}: {error}")
            if not failing:
                raise
        finally:
            try:
                if suspended:

                    def resume() -> bool:
                        api.resume(suspended)
                        return True

                    waiter.until("resuming the alarm tasks", resume)
            except Exception as error:
                log(f"could not resume {', '.join(suspended)}: {error}; resume them in the console")
                if not failing:
                    raise
    report = RollReport(tuple(replaced), tuple(added))
    log(report.describe())
    return report


def _add_healthy(api: FleetApi, waiter: _Waiter, count: int, log: Callable[[str], None]) -> list[str]:
    """Adds `count` hosts and waits until each is healthy on every listener; on failure
    removes them again and raises."""
    group = _active(api, waiter)
    before = {host.instance_id for host in api.hosts()}
    desired = group.desired + count
    api.set_capacity(desired, max(group.max_size, desired))
    log(f"desired {group.desired} -> {desired}: waiting for {count} new host(s) in service and healthy")
    fresh: list[str] = []
    statuses: dict[str, str] = {}

    def in_service() -> list[str] | None:
        nonlocal fresh
        new = [host for host in api.hosts() if host.instance_id not in before]
        fresh = [host.instance_id for host in new]
        statuses.update({host.instance_id: host.status for host in new})
        failed = [host for host in new if host.status == "Error"]
        if failed:
            raise RollFailed(", ".join(f"{host.instance_id}: {host.status}" for host in failed))
        ready = [host.instance_id for host in new if host.status == "InService"]
        return ready if len(ready) >= count else None

    health: dict[str, list[str]] = {}

    def healthy() -> bool:
        health.clear()
        health.update(api.health(fresh))
        return bool(health) and all(states and all(state == HEALTHY for state in states) for states in health.values())

    try:
        fresh = waiter.until(f"{count} new host(s) in service", in_service)
        waiter.until("the new host(s) healthy on every listener", healthy)
    except Exception as failure:
        seen = {
            instance: (", ".join(health.get(instance) or []) or statuses.get(instance, "not created"))
            for instance in (fresh or ["(none)"])
        }
        detail = "; ".join(f"{instance}: {state}" for instance, state in sorted(seen.items()))
        # They serve nothing and cost money; the old hosts still serve. Then the desired count
        # goes back (a launch that never came leaves it raised otherwise).
        try:
            if fresh:
                _remove(api, waiter, fresh)
            now = _active(api, waiter)
            if now.desired > group.desired:
                api.set_capacity(group.desired, now.max_size)
        except Exception as cleanup:
            detail += f" (putting the group back failed too: {cleanup})"
        raise RollFailed(
            f"{failure}. New host(s) and what the load balancer or the group says of them: {detail}. "
            "The old hosts keep serving. The hosts' own account of their boot is in the bucket "
            "under release-reports/ (a failed first release says why)."
        ) from failure
    return fresh


def _remove(api: FleetApi, waiter: _Waiter, instance_ids: list[str]) -> None:
    _active(api, waiter)
    api.remove(instance_ids)
    gone = set(instance_ids)
    waiter.until(
        f"removing {', '.join(instance_ids)}",
        lambda: not gone & {host.instance_id for host in api.hosts()},
    )
    _active(api, waiter)


class VolcengineFleetApi:
    """FleetApi over the Volcengine SDK (volcenginesdkautoscaling 2020-01-01,
    volcenginesdkclb 2020-04-01). `host` points the SDK elsewhere than the region's endpoint
    (the tests' stand-in)."""

    PAGE_SIZE = 100

    def __init__(
        self,
        *,
        region: str,
        access_key: str,
        secret_key: str,
        scaling_group_id: str,
        listener_ids: Sequence[str],
        host: str | None = None,
    ) -> None:
        import volcenginesdkautoscaling as autoscaling
        import volcenginesdkclb as clb
        import volcenginesdkcore

        configuration = volcenginesdkcore.Configuration()
        configuration.ak = access_key
        configuration.sk = secret_key
        configuration.region = region
        if host:
            configuration.host = host
        client = volcenginesdkcore.ApiClient(configuration)
        self._as = autoscaling
        self._clb = clb
        self._scaling = autoscaling.AUTOSCALINGApi(client)
        self._balancer = clb.CLBApi(client)
        self.scaling_group_id = scaling_group_id
        self.listener_ids = tuple(listener_ids)

    def group(self) -> GroupState:
        groups = self._scaling.describe_scaling_groups(
            self._as.DescribeScalingGroupsRequest(scaling_group_ids=[self.scaling_group_id])
        ).scaling_groups or []
        if not groups:
            raise RollFailed(f"scaling group {self.scaling_group_id} not found in this region")
        found = groups[0]
        configurations = self._scaling.describe_scaling_configurations(
            self._as.DescribeScalingConfigurationsRequest(
                scaling_group_id=self.scaling_group_id,
                scaling_configuration_ids=[found.active_scaling_configuration_id],
            )
        ).scaling_configurations or []
        if not configurations:
            raise RollFailed(f"scaling group {self.scaling_group_id} has no active scaling configuration")
        configuration = configurations[0]
        return GroupState(
            lifecycle_state=found.lifecycle_state,
            desired=int(found.desire_instance_number or 0),
            min_size=int(found.min_instance_number or 0),
            max_size=int(found.max_instance_number or 0),
            configuration_changed_at=parse_time(configuration.updated_at or configuration.created_at),
            suspended=tuple(found.suspended_processes or ()),
        )

    def _pages(self, fetch: Callable[[int], Any], items: str) -> Iterator[Any]:
        """The `items` of a paged Describe call, page after page, until a short page or the
        response's TotalCount."""
        page, seen = 1, 0
        while True:
            result = fetch(page)
            found = getattr(result, items) or []
            yield from found
            seen += len(found)
            if len(found) < self.PAGE_SIZE or seen >= int(result.total_count or 0):
                return
            page += 1

    def hosts(self) -> list[Host]:
        instances = self._pages(
            lambda page: self._scaling.describe_scaling_instances(
                self._as.DescribeScalingInstancesRequest(
                    scaling_group_id=self.scaling_group_id, page_number=page, page_size=self.PAGE_SIZE
                )
            ),
            "scaling_instances",
        )
        return [
            Host(
                instance_id=item.instance_id,
                status=item.status,
                created_at=parse_time(item.created_time),
                creation_type=item.creation_type or "AutoCreated",
            )
            for item in instances
        ]

    def set_capacity(self, desired: int, max_size: int) -> None:
        self._scaling.modify_scaling_group(
            self._as.ModifyScalingGroupRequest(
                scaling_group_id=self.scaling_group_id,
                desire_instance_number=desired,
                max_instance_number=max_size,
            )
        )

    def remove(self, instance_ids: Sequence[str]) -> None:
        self._scaling.remove_instances(
            self._as.RemoveInstancesRequest(
                scaling_group_id=self.scaling_group_id,
                instance_ids=list(instance_ids),
                decrease_desired_capacity=True,
            )
        )

    def suspend(self, processes: Sequence[str]) -> None:
        self._scaling.suspend_processes(
            self._as.SuspendProcessesRequest(scaling_group_id=self.scaling_group_id, processes=list(processes))
        )

    def resume(self, processes: Sequence[str]) -> None:
        self._scaling.resume_processes(
            self._as.ResumeProcessesRequest(scaling_group_id=self.scaling_group_id, processes=list(processes))
        )

    def _backends(self, listener_id: str) -> dict[str, str]:
        """Instance -> its status on the listener."""
        results = self._pages(
            lambda page: self._balancer.describe_listener_health(
                self._clb.DescribeListenerHealthRequest(listener_id=listener_id, page_number=page, page_size=self.PAGE_SIZE)
            ),
            "results",
        )
        return {item.instance_id: item.status for item in results}

    def health(self, instance_ids: Iterable[str]) -> dict[str, list[str]]:
        statuses: dict[str, list[str]] = {instance: [] for instance in instance_ids}
        for listener_id in self.listener_ids:
            seen = self._backends(listener_id)
            for instance, states in statuses.items():
                status = seen.get(instance)
                states.append(
                    HEALTHY if status == HEALTHY else f"{status or 'not a backend yet'} on {listener_id}"
                )
        return statuses


ROLLED_MARK = "fleet roll: hosts boot from configuration "


def _rolled_configuration(previous_output: str) -> str | None:
    """The configuration the previous successful run left the fleet on, from its output."""
    found = [line[len(ROLLED_MARK) :].strip() for line in previous_output.splitlines() if line.startswith(ROLLED_MARK)]
    return found[-1] if found else None


def _number(name: str, environ: dict[str, str], default: str) -> float:
    value = environ.get(name, default)
    try:
        number = float(value)
    except ValueError:
        raise RollFailed(f"{name}={value!r} is not a number") from None
    if number <= 0:
        raise RollFailed(f"{name}={value!r}: give a number above 0")
    return number


def _env(name: str, environ: dict[str, str]) -> str:
    value = environ.get(name, "").strip()
    if not value:
        raise RollFailed(f"{name} is not set")
    return value


def main(environ: dict[str, str] | None = None) -> int:
    """Settings: ROLL_SCALING_GROUP_ID, ROLL_LISTENER_IDS (comma-separated), ROLL_BATCH_SIZE,
    ROLL_HEALTH_TIMEOUT_SECONDS, ROLL_POLL_SECONDS (default 10), ROLL_CONFIGURATION (what new
    hosts boot from, a digest), PULUMI_COMMAND_STDOUT (the previous run's output, set by
    pulumi-command on an update), VOLCENGINE_REGION and the key in
    VOLCENGINE_ACCESS_KEY / VOLCENGINE_SECRET_KEY (the provider's own variables);
    ROLL_API_HOST points the SDK at another endpoint."""
    environ = dict(os.environ if environ is None else environ)
    try:
        access_key = environ.get("VOLCENGINE_ACCESS_KEY", "").strip()
        secret_key = environ.get("VOLCENGINE_SECRET_KEY", "").strip()
        if not access_key or not secret_key:
            raise RollFailed(
                "VOLCENGINE_ACCESS_KEY and VOLCENGINE_SECRET_KEY are not set: the roll drives Auto "
                "Scaling with the deployer's key; set them (or volcengine:accessKey and "
                "volcengine:secretKey in the stack's config), or set fleetRollHealthMinutes: 0 "
                "to roll by hand"
            )
        listener_ids = [item for item in environ.get("ROLL_LISTENER_IDS", "").split(",") if item]
        if not listener_ids:
            raise RollFailed("ROLL_LISTENER_IDS is not set: name the CLB listeners a new host must be healthy on")
        api = VolcengineFleetApi(
            region=_env("VOLCENGINE_REGION", environ),
            access_key=access_key,
            secret_key=secret_key,
            scaling_group_id=_env("ROLL_SCALING_GROUP_ID", environ),
            listener_ids=listener_ids,
            host=environ.get("ROLL_API_HOST") or None,
        )
        configuration = environ.get("ROLL_CONFIGURATION", "")
        rolled_before = _rolled_configuration(environ.get("PULUMI_COMMAND_STDOUT", ""))
        if rolled_before is not None and rolled_before == configuration:
            print(f"fleet roll: hosts already boot from configuration {configuration}: nothing to replace", flush=True)
        else:
            roll(
                api,
                batch_size=int(_number("ROLL_BATCH_SIZE", environ, "1")),
                health_timeout_seconds=_number("ROLL_HEALTH_TIMEOUT_SECONDS", environ, "900"),
                poll_seconds=_number("ROLL_POLL_SECONDS", environ, "10"),
                # Run again because the configuration changed: every host that exists now is
                # old, whether or not the service stamped the change. The first run (no earlier
                # output) goes by the service's stamp alone, so a new fleet is not replaced at birth.
                changed_after=datetime.datetime.now(datetime.UTC) if rolled_before is not None else None,
                log=lambda line: print(f"fleet roll: {line}", flush=True),
            )
        # Read back by the next run (pulumi-command passes it as PULUMI_COMMAND_STDOUT).
        print(f"{ROLLED_MARK}{configuration}", flush=True)
    except RollFailed as failure:
        print(f"fleet roll failed: {failure}", file=sys.stderr)
        return 1
    except Exception as error:
        name = type(error).__name__
        print(f"fleet roll failed on the Volcengine API ({name}): {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
