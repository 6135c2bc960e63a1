"""Apply what a program registered under Pulumi mocks to a real Docker engine.

No Pulumi CLI or provider plugin runs here, so this does, for the Docker resource types the
dev stack uses, what pulumi-docker (the bridged terraform-provider-docker) does with their
inputs, read from `internal/provider/resource_docker_*_funcs.go`:

- `Network`: create with the driver and `internal` flag.
- `Volume`: create by name.
- `RemoteImage`: use the local image if present, else pull (`keepLocally` only matters at
  delete); its `imageId` output is the image's ID.
- `Image` (build): `docker build` of `build.context` with `build.dockerfile` and
  `build.platform`, tagged `imageName`; `skipPush` is required (nothing is pushed here).
- `Container`: create with the inputs below, connect `networksAdvanced` with their aliases
  (the provider creates on the default bridge, then disconnects it and connects these; the
  replayer names the network at create, same end state), upload each `uploads` entry as a
  one-file tar to `/` (mode `permissions`, else 0744 if `executable`, else 0644; owner root),
  then start it (`mustRun`).

Inputs read: name, hostname, image, command, envs, stopSignal, restart, privileged, tmpfs,
cgroupnsMode, mounts, ports, networksAdvanced, healthcheck, uploads, mustRun. Any other input
set on a registered container, and any other Docker resource type, fails the replay by name,
so the replayer cannot silently drop what a stack asks for. Values the mocks made up for
provider outputs (an image ID) are mapped to the real ones as the resources are created.
Other resources (random passwords, local commands, components) are not Docker's and are
skipped; the tests probe what the healthz gate would.
"""

from __future__ import annotations

import contextlib
import io
import tarfile
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi_deploy.testing import ProgramRun, Registration, VolcengineMocks
from tests.boot.docker_engine import DockerEngine, EngineError

__all__ = ["Replay", "build_image", "replay", "teardown"]

NETWORK = "docker:index/network:Network"
VOLUME = "docker:index/volume:Volume"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"
IMAGE = "docker:index/image:Image"
CONTAINER = "docker:index/container:Container"
PROVIDER = "pulumi:providers:docker"

_CONTAINER_INPUTS = {
    "name", "hostname", "image", "command", "envs", "stopSignal", "restart", "privileged", "tmpfs",
    "cgroupnsMode", "mounts", "ports", "networksAdvanced", "healthcheck", "uploads", "mustRun",
}  # fmt: skip
_NETWORK_INPUTS = {"name", "driver", "internal"}
_IMAGE_INPUTS = {"imageName", "build", "skipPush", "buildOnPreview"}


@dataclass
class Replay:
    """What the replay made, for the tests and for teardown; seconds per step."""

    containers: dict[str, str] = field(default_factory=dict)  # registered name -> container name
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    images: dict[str, str] = field(default_factory=dict)  # reference -> image ID
    seconds: dict[str, float] = field(default_factory=dict)


def _refuse_unknown(registration: Registration, known: set[str]) -> None:
    extra = sorted(set(registration.inputs) - known)
    if extra:
        raise NotImplementedError(f"{registration.type} {registration.name}: the replayer does not apply {extra}")


def _duration_ns(text: str) -> int:
    units = {"ms": 1_000_000, "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
    for suffix in ("ms", "s", "m", "h"):
        if text.endswith(suffix) and text[: -len(suffix)].isdigit():
            return int(text[: -len(suffix)]) * units[suffix]
    raise ValueError(f"duration {text!r}: expected a number with ms, s, m or h")


def _upload_tar(upload: dict[str, Any]) -> bytes:
    if sum(1 for key in ("content", "contentBase64", "source") if upload.get(key)) != 1:
        raise ValueError(f"upload {upload.get('file')}: exactly one of content, contentBase64, source")
    if upload.get("source"):
        with open(upload["source"], "rb") as handle:
            data = handle.read()
    elif upload.get("contentBase64"):
        import base64

        data = base64.b64decode(upload["contentBase64"])
    else:
        data = str(upload["content"]).encode()
    if upload.get("permissions"):
        mode = int(upload["permissions"], 8)
    else:
        mode = 0o744 if upload.get("executable") else 0o644
    info = tarfile.TarInfo(name=upload["file"])
    info.size, info.mode, info.mtime, info.uid, info.gid = len(data), mode, int(time.time()), 0, 0
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _container_body(inputs: dict[str, Any], image_ids: dict[str, str]) -> dict[str, Any]:
    image = image_ids.get(inputs["image"], inputs["image"])
    ports = inputs.get("ports", [])
    bindings: dict[str, list[dict[str, str]]] = {}
    for port in ports:
        key = f"{int(port['internal'])}/{port.get('protocol', 'tcp')}"
        bindings.setdefault(key, []).append({"HostIp": port.get("ip", "0.0.0.0"), "HostPort": str(int(port["external"]))})
    networks = inputs.get("networksAdvanced", [])
    host_config: dict[str, Any] = {
        "Privileged": bool(inputs.get("privileged", False)),
        "RestartPolicy": {"Name": inputs.get("restart", "no")},
        "PortBindings": bindings,
        "Tmpfs": dict(inputs.get("tmpfs", {})),
        "Mounts": [
            {"Type": mount["type"], "Source": mount["source"], "Target": mount["target"], "ReadOnly": bool(mount.get("readOnly", False))}
            for mount in inputs.get("mounts", [])
        ],
    }
    if inputs.get("cgroupnsMode"):
        host_config["CgroupnsMode"] = inputs["cgroupnsMode"]
    if networks:
        host_config["NetworkMode"] = networks[0]["name"]
    body: dict[str, Any] = {
        "Hostname": inputs.get("hostname", ""),
        "Image": image,
        "Env": list(inputs.get("envs", [])),
        "ExposedPorts": {key: {} for key in bindings},
        "HostConfig": host_config,
        "NetworkingConfig": {
            "EndpointsConfig": {network["name"]: {"Aliases": list(network.get("aliases", []))} for network in networks[:1]}
        },
    }
    if inputs.get("command"):
        body["Cmd"] = list(inputs["command"])
    if inputs.get("stopSignal"):
        body["StopSignal"] = inputs["stopSignal"]
    if inputs.get("healthcheck"):
        check = inputs["healthcheck"]
        body["Healthcheck"] = {
            "Test": list(check["tests"]),
            "Interval": _duration_ns(check.get("interval", "0s")),
            "Timeout": _duration_ns(check.get("timeout", "0s")),
            "Retries": int(check.get("retries", 0)),
        }
    return body


def build_image(engine: DockerEngine, inputs: dict[str, Any]) -> str:
    """`docker build` as an `Image` resource's inputs ask; returns the image ID."""
    build = inputs["build"]
    engine.docker(
        "build", "--platform", build.get("platform", "linux/amd64"), "--tag", inputs["imageName"],
        "--file", build.get("dockerfile", f"{build['context']}/Dockerfile"), build["context"],
    )  # fmt: skip
    return engine.api.image_id(inputs["imageName"])


def replay(engine: DockerEngine, run: ProgramRun) -> Replay:
    """Create, in registration order (the engine registered each after what it depends on),
    every Docker resource of `run`. On failure, what was made stays for `teardown`."""
    made = Replay()
    mock_ids: dict[str, str] = {}
    mocks = VolcengineMocks()
    api = engine.api
    for registration in run.registrations:
        inputs = registration.inputs
        if registration.type == PROVIDER or not registration.type.startswith("docker:"):
            continue
        started = time.monotonic()
        if registration.type == NETWORK:
            _refuse_unknown(registration, _NETWORK_INPUTS)
            api.request(
                "POST",
                "/networks/create",
                body={"Name": inputs["name"], "Driver": inputs.get("driver", "bridge"), "Internal": bool(inputs.get("internal", False)), "CheckDuplicate": True},
            )
            made.networks.append(inputs["name"])
        elif registration.type == VOLUME:
            _refuse_unknown(registration, {"name"})
            api.request("POST", "/volumes/create", body={"Name": inputs["name"]})
            made.volumes.append(inputs["name"])
        elif registration.type == REMOTE_IMAGE:
            _refuse_unknown(registration, {"name", "keepLocally"})
            reference = inputs["name"]
            try:
                real = api.image_id(reference)
            except EngineError:
                engine.docker("pull", reference)
                real = api.image_id(reference)
            mock_ids[mocks.computed_outputs(registration.type, registration.name, inputs)["imageId"]] = real
            made.images[reference] = real
        elif registration.type == IMAGE:
            _refuse_unknown(registration, _IMAGE_INPUTS)
            if not inputs.get("skipPush"):
                raise NotImplementedError(f"{registration.name}: pushing an image is not replayed; set skip_push")
            made.images[inputs["imageName"]] = build_image(engine, inputs)
        elif registration.type == CONTAINER:
            _refuse_unknown(registration, _CONTAINER_INPUTS)
            name = inputs["name"]
            created = api.request("POST", "/containers/create", query={"name": name}, body=_container_body(inputs, mock_ids))
            made.containers[registration.name] = name
            for upload in inputs.get("uploads", []):
                api.request(
                    "PUT", f"/containers/{created['Id']}/archive", query={"path": "/"}, raw=_upload_tar(upload), content_type="application/x-tar"
                )
            if inputs.get("mustRun", True):
                api.request("POST", f"/containers/{created['Id']}/start")
        else:
            raise NotImplementedError(f"{registration.type} ({registration.name}) is not replayed")
        made.seconds[f"{registration.type.rsplit(':', 1)[-1]} {registration.name}"] = time.monotonic() - started
    return made


def teardown(engine: DockerEngine, made: Replay) -> None:
    """Remove what `replay` made, as a stack's destroy would; images stay (keepLocally, and
    the cache of the next run)."""
    for name in made.containers.values():
        with contextlib.suppress(OSError):
            engine.api.request("DELETE", f"/containers/{name}", query={"force": "true", "v": "true"}, ok=(204, 404))
    for volume in made.volumes:
        engine.api.request("DELETE", f"/volumes/{volume}", ok=(204, 404))
    for network in made.networks:
        engine.api.request("DELETE", f"/networks/{network}", ok=(204, 404))
