"""A loopback stand-in for the parts of Volcengine's OpenAPI the fleet roll drives: one Auto
Scaling group (2020-01-01) and its CLB listeners' health (2020-04-01), answered over HTTP to
the real SDK (volcenginesdkautoscaling, volcenginesdkclb), which signs and encodes the requests
as it would for the cloud.

The rules it enforces are the documented ones, not the roll's expectations:
- requests are GET with Action, Version and flattened list parameters (`InstanceIds.1=...`):
  the sample requests in the BytePlus/Volcengine API reference (SuspendProcesses);
- each is signed for its service (`auto_scaling` or `clb`) and region (HMAC-SHA256 credential
  scope, same sample);
- ModifyScalingGroup, RemoveInstances and SuspendProcesses are refused while the group is
  Locked by a scaling activity ("not supported when the Scaling Group is in either Locked or
  Deleting status", BytePlus "Suspension/Resumption of scaling group processes"; the provider
  waits for "Active" after each RemoveInstances, terraform-provider-volcengine@8cff1813
  scaling_instance_attachment/service_volcengine_scaling_instance_attachment.go);
- the desired count must lie between the group's min and max (ModifyScalingGroup reference);
- RemoveInstances lowers the desired count by default (DecreaseDesiredCapacity, default true,
  volcengine.com/docs/6617/109834) and may not take the group under its min;
- DescribeScalingInstances pages with PageSize (default 10);
- RemoveInstances takes InstanceIds.1 to InstanceIds.20 (same page);
- requests name the one group there is, or get InvalidScalingGroup.NotFound;
- DescribeListenerHealth lists each backend with its InstanceId and Status Up or Down
  (volcengine.com/docs/6406/71779).

Time runs for real but fast: a launched host is Pending, then InService, then Up on every
listener (unless `broken` says its configuration never becomes healthy).
"""

from __future__ import annotations

import datetime
import itertools
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

REGION = "cn-beijing"
ACCESS_KEY = "AKLTstandin"


def _stamp(moment: datetime.datetime) -> str:
    """In Beijing time with its offset, to seconds (so the client must honour offsets)."""
    beijing = datetime.timezone(datetime.timedelta(hours=8))
    return moment.astimezone(beijing).isoformat(timespec="seconds")


@dataclass
class Instance:
    instance_id: str
    created: datetime.datetime
    status: str = "Pending"
    healthy: bool = False
    creation_type: str = "AutoCreated"


@dataclass
class Fleet:
    """The group's state; every field is read and written under `lock`."""

    min_size: int = 2
    max_size: int = 4
    desired: int = 2
    lifecycle_state: str = "Active"
    configuration_created: datetime.datetime = field(
        default_factory=lambda: datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    )
    configuration_updated: datetime.datetime | None = None
    instances: dict[str, Instance] = field(default_factory=dict)
    listener_ids: tuple[str, ...] = ("lsn-80", "lsn-443")
    suspended: set[str] = field(default_factory=set)
    # New hosts never pass the load balancer's health check (a broken configuration).
    broken: bool = False
    # The group accepts a higher desired count but never launches (no stock, a quota).
    launch_fails: bool = False
    # Answer this many of the next listener-health requests with 503 (a service hiccup).
    unavailable: int = 0
    launch_seconds: float = 0.15
    health_seconds: float = 0.15
    remove_seconds: float = 0.15
    calls: list[tuple[str, dict[str, list[str]]]] = field(default_factory=list)
    # (monotonic time, hosts Up on every listener) after every change.
    healthy_timeline: list[tuple[float, int]] = field(default_factory=list)
    lock: threading.RLock = field(default_factory=threading.RLock)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def add_running(self, count: int, *, age_hours: float = 2.0) -> list[str]:
        """Hosts already serving before the test (created `age_hours` ago)."""
        made: list[str] = []
        with self.lock:
            for _ in range(count):
                instance = Instance(
                    f"i-old{next(self._ids):03d}",
                    datetime.datetime.now(datetime.UTC) - datetime.timedelta(hours=age_hours) + datetime.timedelta(seconds=len(made)),
                    status="InService",
                    healthy=True,
                )
                self.instances[instance.instance_id] = instance
                made.append(instance.instance_id)
            self._record()
        return made

    def change_configuration(self) -> None:
        with self.lock:
            self.configuration_updated = datetime.datetime.now(datetime.UTC)

    def healthy_count(self) -> int:
        with self.lock:
            return sum(1 for instance in self.instances.values() if instance.healthy and instance.status == "InService")

    def _record(self) -> None:
        self.healthy_timeline.append((time.monotonic(), self.healthy_count()))

    # -- the service's own work, run in the background as scaling activities -----------------

    def _converge(self) -> None:
        """Adds hosts up to the desired count (the group's own activity)."""
        with self.lock:
            missing = self.desired - len(self.instances)
            if missing <= 0 or self.launch_fails:
                return
            self.lifecycle_state = "Locked"
            launched = []
            for _ in range(missing):
                instance = Instance(f"i-new{next(self._ids):03d}", datetime.datetime.now(datetime.UTC))
                self.instances[instance.instance_id] = instance
                launched.append(instance)
        time.sleep(self.launch_seconds)
        with self.lock:
            for instance in launched:
                instance.status = "InService"
            self.lifecycle_state = "Active"
            self._record()
        if self.broken:
            return
        time.sleep(self.health_seconds)
        with self.lock:
            for instance in launched:
                instance.healthy = True
            self._record()

    def _remove(self, instance_ids: list[str]) -> None:
        with self.lock:
            for instance_id in instance_ids:
                self.instances[instance_id].status = "Removing"
                self.instances[instance_id].healthy = False
            self._record()
        time.sleep(self.remove_seconds)
        with self.lock:
            for instance_id in instance_ids:
                del self.instances[instance_id]
            self.lifecycle_state = "Active"
            self._record()

    # -- the API ---------------------------------------------------------------------------------

    def handle(self, service: str, action: str, params: dict[str, list[str]]) -> dict[str, Any]:
        with self.lock:
            self.calls.append((action, params))
            if self.unavailable > 0 and action == "DescribeListenerHealth":
                self.unavailable -= 1
                raise ApiError("ServiceUnavailable", "try again", status=503)
            one = {key: values[0] for key, values in params.items()}
            groups = [value for key, value in one.items() if key == "ScalingGroupId" or key.startswith("ScalingGroupIds.")]
            if service == "auto_scaling" and groups != ["scg-standin"]:
                raise ApiError("InvalidScalingGroup.NotFound", f"scaling group {groups} not found")
            if service == "clb":
                return self._listener_health(one)
            if action == "DescribeScalingGroups":
                return {
                    "ScalingGroups": [
                        {
                            "ScalingGroupId": "scg-standin",
                            "LifecycleState": self.lifecycle_state,
                            "DesireInstanceNumber": self.desired,
                            "MinInstanceNumber": self.min_size,
                            "MaxInstanceNumber": self.max_size,
                            "ActiveScalingConfigurationId": "scc-standin",
                            "TotalInstanceCount": len(self.instances),
                            "SuspendedProcesses": sorted(self.suspended),
                        }
                    ],
                    "TotalCount": 1,
                }
            if action == "DescribeScalingConfigurations":
                updated = self.configuration_updated or self.configuration_created
                return {
                    "ScalingConfigurations": [
                        {
                            "ScalingConfigurationId": "scc-standin",
                            "LifecycleState": "Active",
                            "CreatedAt": _stamp(self.configuration_created),
                            "UpdatedAt": _stamp(updated),
                        }
                    ],
                    "TotalCount": 1,
                }
            if action == "DescribeScalingInstances":
                return self._instances(one)
            if action == "SuspendProcesses":
                self._require_unlocked()
                self.suspended |= {value for key, value in one.items() if key.startswith("Processes.")}
                return {}
            if action == "ResumeProcesses":
                self._require_unlocked()
                self.suspended -= {value for key, value in one.items() if key.startswith("Processes.")}
                return {}
            if action == "ModifyScalingGroup":
                self._require_unlocked()
                max_size = int(one.get("MaxInstanceNumber", self.max_size))
                desired = int(one.get("DesireInstanceNumber", self.desired))
                if not self.min_size <= desired <= max_size:
                    raise ApiError(
                        "InvalidParameter.DesireInstanceNumber",
                        f"DesireInstanceNumber {desired} must lie between {self.min_size} and {max_size}",
                    )
                self.max_size, self.desired = max_size, desired
                threading.Thread(target=self._converge, daemon=True).start()
                return {"ScalingGroupId": "scg-standin"}
            if action == "RemoveInstances":
                self._require_unlocked()
                ids = [value for key, value in sorted(one.items()) if key.startswith("InstanceIds.")]
                if len(ids) > 20:
                    raise ApiError("InvalidParameter.InstanceIds", "InstanceIds.N takes N from 1 to 20")
                unknown = [instance_id for instance_id in ids if instance_id not in self.instances]
                if unknown:
                    raise ApiError("InvalidInstance.NotFound", f"{unknown} not in the group")
                if one.get("DecreaseDesiredCapacity", "true") == "true":
                    if self.desired - len(ids) < self.min_size:
                        raise ApiError(
                            "InvalidParameter.MinInstanceNumber",
                            f"removing {len(ids)} would take the group under its min {self.min_size}",
                        )
                    self.desired -= len(ids)
                self.lifecycle_state = "Locked"
                threading.Thread(target=self._remove, args=(ids,), daemon=True).start()
                return {"ScalingActivityId": f"sga-{len(self.calls)}"}
            raise ApiError("InvalidAction", f"the stand-in does not know {action}")

    def _require_unlocked(self) -> None:
        if self.lifecycle_state != "Active":
            raise ApiError(
                "InvalidScalingGroup.InvalidStatus", f"The specified ScalingGroup is {self.lifecycle_state}."
            )

    def _instances(self, one: dict[str, str]) -> dict[str, Any]:
        size = int(one.get("PageSize", "10"))
        page = int(one.get("PageNumber", "1"))
        ordered = sorted(self.instances.values(), key=lambda instance: instance.created)
        chosen = ordered[(page - 1) * size : page * size]
        return {
            "ScalingInstances": [
                {
                    "InstanceId": instance.instance_id,
                    "ScalingGroupId": "scg-standin",
                    "ScalingConfigurationId": "scc-standin",
                    "Status": instance.status,
                    "CreatedTime": _stamp(instance.created),
                    "CreationType": instance.creation_type,
                    "ZoneId": f"{REGION}-a",
                }
                for instance in chosen
            ],
            "TotalCount": len(ordered),
            "PageNumber": page,
            "PageSize": size,
        }

    def _listener_health(self, one: dict[str, str]) -> dict[str, Any]:
        listener = one.get("ListenerId", "")
        if listener not in self.listener_ids:
            raise ApiError("InvalidListener.NotFound", f"listener {listener} not found")
        backends = [instance for instance in self.instances.values() if instance.status in ("InService", "Removing")]
        size = int(one.get("PageSize", "10"))
        page = int(one.get("PageNumber", "1"))
        up = {instance.instance_id: self.backend_up(instance, listener) for instance in backends}
        return {
            "Results": [
                {
                    "InstanceId": instance.instance_id,
                    "Status": "Up" if up[instance.instance_id] else "Down",
                    "Type": "ecs",
                    "Port": 443,
                    "RuleNumber": 0,
                }
                for instance in backends[(page - 1) * size : page * size]
            ],
            "TotalCount": len(backends),
            "UnHealthyCount": sum(1 for healthy in up.values() if not healthy),
            "Status": "Active",
        }

    def backend_up(self, instance: Instance, listener_id: str) -> bool:
        """Whether the listener's health check passes on `instance` (a fleet of real hosts
        asks its balancer instead)."""
        return instance.healthy


class ApiError(Exception):
    def __init__(self, code: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


VERSIONS = {"auto_scaling": "2020-01-01", "clb": "2020-04-01"}


class StandIn:
    """Serves a Fleet on a loopback port; `host` is what the SDK's Configuration.host takes."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                params = parse_qs(urlsplit(self.path).query)
                action = params.pop("Action", [""])[0]
                version = params.pop("Version", [""])[0]
                auth = self.headers.get("Authorization", "")
                # HMAC-SHA256 Credential=<ak>/<date>/<region>/<service>/request, ...
                scope = auth.split("Credential=", 1)[-1].split(",", 1)[0].split("/")
                service = scope[3] if len(scope) == 5 else ""
                try:
                    if scope[0] != ACCESS_KEY or scope[2:3] != [REGION] or service not in VERSIONS:
                        raise ApiError("SignatureDoesNotMatch", f"credential scope {scope}")
                    if version != VERSIONS[service]:
                        raise ApiError("InvalidVersion", f"{service} has no version {version}")
                    body: dict[str, Any] = {"Result": stand_in.fleet.handle(service, action, params)}
                    code = 200
                except ApiError as error:
                    body, code = {"Error": {"Code": error.code, "Message": str(error)}}, error.status
                metadata = {"RequestId": "standin", "Action": action, "Version": version, "Service": service, "Region": REGION}
                if "Error" in body:
                    metadata["Error"] = body.pop("Error")
                payload = json.dumps({"ResponseMetadata": metadata, **body}).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> StandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
