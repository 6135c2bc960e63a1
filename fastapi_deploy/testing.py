"""Unit-test Pulumi programs that use these components, under `pulumi.runtime.set_mocks`.

Pulumi's stock mocks answer every invoke with `{}`; the components look up public images
(`volcengine:ecs/getImages:getImages`) and read outputs such as the CLB's address or the RDS
endpoints. `VolcengineMocks` answers those the way the provider does, so a program using the
components runs under mocks unchanged:

    from fastapi_deploy.testing import run_program

    def test_my_fleet():
        run = run_program(my_program)          # my_program builds AppFleet, ...
        group = run.one("volcengine:autoscaling/scalingGroup:ScalingGroup")
        assert group.inputs["maxInstanceNumber"] == 6

`run_program` gives each run a fresh recorder, monitor, root stack, config and event loop (the
mock runtime is global state) and records every registered resource with its inputs, parent,
options and secret markers. Subclass `VolcengineMocks` (override `computed_outputs` or
`call`) to answer more resource types or invokes.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

__all__ = [
    "DUMMY_SECRET",
    "GET_IMAGES",
    "ProgramRun",
    "Registration",
    "VolcengineMocks",
    "build_component",
    "config_text",
    "contains_secret",
    "load_stack_file",
    "project_name",
    "public_image",
    "resolve",
    "run_program",
    "run_stack",
    "unwrap",
]

GET_IMAGES = "volcengine:ecs/getImages:getImages"


def contains_secret(value: Any) -> bool:
    """True when the value (or anything inside it) reached the engine marked secret."""
    if rpc.is_rpc_secret(value):
        return True
    if isinstance(value, dict):
        return any(contains_secret(item) for item in value.values())
    if isinstance(value, list):
        return any(contains_secret(item) for item in value)
    return False


def unwrap(value: Any) -> Any:
    """The value with every secret marker removed."""
    value = rpc.unwrap_rpc_secret(value)
    if isinstance(value, dict):
        return {key: unwrap(item) for key, item in value.items()}
    if isinstance(value, list):
        return [unwrap(item) for item in value]
    return value


def public_image(image_id: str, platform: str, version: str, created_at: str) -> dict[str, Any]:
    """One entry of `ecs.getImages`' `images` list, with the fields the provider returns."""
    return {
        "architecture": "amd64",
        "bootMode": "UEFI",
        "description": "",
        "osType": "Linux",
        "shareStatus": "",
        "size": 40,
        "status": "available",
        "tags": [],
        "updatedAt": created_at,
        "visibility": "public",
        "imageId": image_id,
        "imageName": f"{platform} {version} 64 bit",
        "osName": f"{platform} {version}",
        "platform": platform,
        "platformVersion": version,
        "isSupportCloudInit": True,
        "createdAt": created_at,
    }


# What the mocked region offers: two Debian 12 builds (the newer one must win), Debian 11 and
# Ubuntu, so that the lookup's choice is visible in tests.
DEFAULT_PUBLIC_IMAGES: tuple[dict[str, Any], ...] = (
    public_image("image-debian-12-old", "Debian", "12", "2024-06-01T00:00:00Z"),
    public_image("image-debian-12-new", "Debian", "12.8", "2025-02-01T00:00:00Z"),
    public_image("image-debian-11", "Debian", "11", "2025-03-01T00:00:00Z"),
    public_image("image-ubuntu-22-04", "Ubuntu", "22.04", "2025-03-01T00:00:00Z"),
)


@dataclass
class Registration:
    """One resource as the engine saw it."""

    type: str
    name: str
    urn: str
    parent: str
    custom: bool
    raw_inputs: dict[str, Any]
    protect: bool = False
    additional_secret_outputs: list[str] = field(default_factory=list)
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)
    dependencies: list[str] = field(default_factory=list)
    provider: str = ""

    @property
    def inputs(self) -> dict[str, Any]:
        """The inputs with secret markers removed (check `is_secret` separately)."""
        plain: dict[str, Any] = unwrap(self.raw_inputs)
        return plain

    def is_secret(self, key: str) -> bool:
        return contains_secret(self.raw_inputs.get(key))

    @property
    def parent_name(self) -> str:
        return self.parent.rsplit("::", 1)[-1] if self.parent else ""


class VolcengineMocks(mocks.Mocks):
    """Mocks that answer the invokes the components make and return plausible outputs for the
    provider attributes they read; every other output echoes the inputs. In a preview
    (`preview=True`) computed outputs stay unknown, as they do in `pulumi preview`."""

    def __init__(self, preview: bool = False, public_images: Sequence[dict[str, Any]] = DEFAULT_PUBLIC_IMAGES) -> None:
        self.preview = preview
        self.public_images = list(public_images)

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        if args.token == GET_IMAGES:
            wanted = str(args.args.get("platform") or "")
            images = [image for image in self.public_images if not wanted or image["platform"] == wanted]
            return {"id": "images", "images": images, "totalCount": len(images)}, []
        return {}, []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        if not self.preview:
            outputs.update(self.computed_outputs(args.typ, args.name, args.inputs))
        return (None if self.preview else f"{args.name}-id"), outputs

    def computed_outputs(self, typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Outputs the provider computes for `typ`; documentation addresses (203.0.113.0/24)
        for public ones, so that a mock value can never be mistaken for a real host."""
        if typ == "random:index/randomPassword:RandomPassword":
            length = int(unwrap(inputs.get("length", 32)))
            return {"result": ("Mock-Pw_0123456789abcdefghijklmnopqrstuvwxyz" * 3)[:length]}
        if typ == "random:index/randomString:RandomString":
            return {"result": "k3q9x2ab"[: int(unwrap(inputs.get("length", 8)))]}
        if typ == "volcengine:clb/clb:Clb":
            return {"eipAddress": "203.0.113.10", "eniAddress": "10.20.0.100"}
        if typ == "volcengine:ecs/instance:Instance":
            return {"primaryIpAddress": "10.20.0.10", "instanceId": f"i-{name}"}
        if typ == "volcengine:eip/address:Address":
            return {"eipAddress": "203.0.113.20"}
        if typ == "volcengine:rds_postgresql/instance:Instance":
            return {"endpoints": _rds_endpoints(name)}
        if typ == "tls:index/privateKey:PrivateKey":
            return {"privateKeyPem": _pem("PRIVATE KEY", name), "publicKeyPem": _pem("PUBLIC KEY", name)}
        if typ in ("tls:index/selfSignedCert:SelfSignedCert", "tls:index/locallySignedCert:LocallySignedCert"):
            return {"certPem": _pem("CERTIFICATE", name)}
        if typ == "tls:index/certRequest:CertRequest":
            return {"certRequestPem": _pem("CERTIFICATE REQUEST", name)}
        if typ == "volcengine:vmp/workspace:Workspace":
            # The form GetWorkspace's documentation shows (docs/6731/1568188): a private host
            # in the region and the workspace's path.
            return {
                "prometheusWriteIntranetEndpoint": f"http://write.prometheus-cn-beijing.ivolces.com/workspaces/{name}-id"
            }
        if typ == "volcengine:iam/accessKey:AccessKey":
            return {"accessKeyId": f"AKLTmock{name}", "secretAccessKey": f"mock-secret-of-{name}"}
        if typ == "docker:index/remoteImage:RemoteImage":
            return {"imageId": "sha256:mockpostgres"}
        if typ == "docker:index/image:Image":
            return {"repoDigest": "sha256:mockapphost"}
        if typ == "command:local:Command":
            return {"stdout": "healthy after 1 probe(s)", "stderr": ""}
        return {}


def _pem(kind: str, name: str) -> str:
    """PEM-shaped, and plainly not a real key or certificate."""
    return f"-----BEGIN {kind}-----\nmock-{name}\n-----END {kind}-----\n"


def _rds_endpoints(name: str) -> list[dict[str, Any]]:
    """An RDS for PostgreSQL instance's endpoints as the provider lists them: the default
    read-write (Cluster) endpoint first with its private address, then a read-only one."""
    return [
        {
            "endpointType": "Cluster",
            "endpointName": "Default Endpoint",
            "readWriteMode": "ReadWrite",
            "addresses": [
                {
                    "networkType": "Private",
                    "domain": f"{name}.pg.ivolces.com",
                    "port": "5432",
                    "ipAddress": "10.20.0.50",
                }
            ],
        },
        {
            "endpointType": "Custom",
            "endpointName": "read-only",
            "readWriteMode": "ReadOnly",
            "addresses": [
                {
                    "networkType": "Private",
                    "domain": f"{name}-ro.pg.ivolces.com",
                    "port": "5432",
                    "ipAddress": "10.20.0.51",
                }
            ],
        },
    ]


class _RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, also keeping what `Mocks` never sees: parent, protect, secrets."""

    def __init__(self, mock: VolcengineMocks, registrations: list[Registration]) -> None:
        super().__init__(mock)
        self._registrations = registrations

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self._registrations.append(
                Registration(
                    type=request.type,
                    name=request.name,
                    urn=response.urn,
                    parent=request.parent,
                    custom=bool(request.custom),
                    raw_inputs=rpc.deserialize_properties(request.object),
                    protect=bool(request.protect),
                    additional_secret_outputs=list(request.additionalSecretOutputs),
                    ignore_changes=list(request.ignoreChanges),
                    replace_on_changes=list(request.replaceOnChanges),
                    dependencies=list(request.dependencies),
                    provider=request.provider,
                )
            )
        return response


class _CallRecorder:
    """Wraps a Mocks' `call` to remember every invoke and the provider it went to."""

    def __init__(self, mock: VolcengineMocks) -> None:
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.providers: list[str] = []
        inner = mock.call

        def call(args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
            self.calls.append((args.token, dict(args.args)))
            self.providers.append(args.provider)
            return inner(args)

        mock.call = call  # type: ignore[method-assign]


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class ProgramRun:
    """What one program run registered, invoked and exported."""

    registrations: list[Registration]
    calls: list[tuple[str, dict[str, Any]]]
    outputs: dict[str, Any]
    secret_outputs: set[str]
    warnings: list[str]
    call_providers: list[str] = field(default_factory=list)

    def of_type(self, typ: str) -> list[Registration]:
        return [item for item in self.registrations if item.type == typ]

    def one(self, typ: str) -> Registration:
        found = self.of_type(typ)
        assert len(found) == 1, f"expected one {typ}, found {[item.name for item in found]}"
        return found[0]

    def named(self, name: str) -> Registration:
        found = [item for item in self.registrations if item.name == name]
        assert len(found) == 1, f"expected one resource named {name!r}, found {len(found)}"
        return found[0]

    def type_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for item in self.registrations:
            counts[item.type] = counts.get(item.type, 0) + 1
        return counts

    def children_of(self, urn: str) -> list[Registration]:
        return [item for item in self.registrations if item.parent == urn]

    def descendants_of(self, urn: str) -> Iterator[Registration]:
        for item in self.children_of(urn):
            yield item
            yield from self.descendants_of(item.urn)


def resolve(value: Any) -> tuple[Any, bool]:
    """(value, is_secret) of an Output or a plain value, after a run."""
    output = pulumi.Output.from_input(value)
    return _sync_await(output.future()), bool(_sync_await(output.is_secret()))


def config_text(value: Any) -> str:
    """Config reaches a Python program as strings; lists and maps as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def run_program(
    program: Callable[[], Any],
    *,
    stack: str = "test",
    project: str = "test-project",
    config: Mapping[str, Any] | None = None,
    secret_keys: set[str] | None = None,
    preview: bool = False,
    mock: VolcengineMocks | None = None,
) -> ProgramRun:
    """Run `program` under fresh mocks and return what it registered. `config` keys are
    without the project prefix (unless they name another namespace, `volcengine:region`); `secret_keys` marks some of them secret, as `secure:` values
    are. Errors the program hits are re-raised."""
    _fresh_event_loop()
    mock = mock or VolcengineMocks(preview)
    registrations: list[Registration] = []
    calls = _CallRecorder(mock)
    handler = _ListHandler()
    logger = logging.getLogger(f"pulumi-mocks-{id(mock)}")
    logger.propagate = False
    logger.addHandler(handler)
    # A key with a namespace of its own (`volcengine:accessKey`) is another package's.
    def full(key: str) -> str:
        return key if ":" in key else f"{project}:{key}"

    full_config = {full(key): config_text(value) for key, value in (config or {}).items()}
    pulumi.runtime.set_all_config(full_config, [full(key) for key in (secret_keys or set())])
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        mock,
        project=project,
        stack=stack,
        preview=preview,
        logger=logger,
        monitor=_RecordingMonitor(mock, registrations),
    )
    # Outputs still pending from an earlier (failed) run must not be awaited by this one.
    settings.SETTINGS.outputs.clear()
    root = settings.get_root_resource()
    try:
        _sync_await(run_pulumi_func(program))
    finally:
        logger.removeHandler(handler)
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for key, value in getattr(root, "outputs", {}).items():
        outputs[key], is_secret = resolve(value)
        if is_secret:
            secret_outputs.add(key)
    warnings = [record.getMessage() for record in handler.records if record.levelno == logging.WARNING]
    return ProgramRun(registrations, calls.calls, outputs, secret_outputs, warnings, calls.providers)


_Built = TypeVar("_Built")


def build_component(factory: Callable[[], _Built], **kwargs: Any) -> tuple[ProgramRun, _Built]:
    """Run a program that builds one component; return the run and the component."""
    built: list[_Built] = []
    run = run_program(lambda: built.append(factory()), **kwargs)
    return run, built[0]


def _fresh_event_loop() -> None:
    """A new event loop per run: a failed run leaves tasks behind (that is how Pulumi reports
    errors), and the next run's wait for outstanding work must not inherit them."""
    try:
        old = asyncio.get_event_loop()
    except RuntimeError:
        old = None
    if old is not None and not old.is_closed() and not old.is_running():
        leftovers = asyncio.all_tasks(old)
        for task in leftovers:
            task.cancel()
        if leftovers:
            old.run_until_complete(asyncio.gather(*leftovers, return_exceptions=True))
        old.close()
    asyncio.set_event_loop(asyncio.new_event_loop())


# --- whole programs: a Pulumi project directory and its stack files -------------------------------

# What a `secure:` value of a stack file stands for under mocks: clearly fake, and valid as
# NAME=value lines (the form appSecretEnv takes).
DUMMY_SECRET = "MOCK_SECRET=not-a-real-secret"


def project_name(project_dir: Path) -> str:
    """The `name:` of the project's Pulumi.yaml."""
    import yaml

    document = yaml.safe_load((project_dir / "Pulumi.yaml").read_text())
    return str(document["name"])


def load_stack_file(
    project_dir: Path, stack: str, overrides: Mapping[str, Any] | None = None, stack_file: Path | None = None
) -> tuple[dict[str, Any], set[str]]:
    """The project's keys in Pulumi.<stack>.yaml (or `stack_file`), without the project
    prefix, `secure:` values replaced by DUMMY_SECRET, plus overrides; and the keys that
    are secret."""
    import yaml

    project = project_name(project_dir)
    document = yaml.safe_load((stack_file or project_dir / f"Pulumi.{stack}.yaml").read_text()) or {}
    values: dict[str, Any] = {}
    secure: set[str] = set()
    for full_key, value in (document.get("config") or {}).items():
        owner, _, key = str(full_key).partition(":")
        if owner != project:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = DUMMY_SECRET
            secure.add(key)
        values[key] = value
    values.update(overrides or {})
    return values, secure


def run_stack(
    project_dir: Path,
    stack: str,
    overrides: Mapping[str, Any] | None = None,
    *,
    secret_overrides: set[str] | None = None,
    preview: bool = False,
    mock: VolcengineMocks | None = None,
    stack_file: Path | None = None,
) -> ProgramRun:
    """Run the project's `__main__.py` with the config of Pulumi.<stack>.yaml (or
    `stack_file`; plus overrides, `secret_overrides` naming those to pass as secrets), as
    `pulumi up` would."""
    import runpy
    import sys

    config, secure = load_stack_file(project_dir, stack, overrides, stack_file)
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    return run_program(
        lambda: runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__"),
        stack=stack,
        project=project_name(project_dir),
        config=config,
        secret_keys=secure | (secret_overrides or set()),
        preview=preview,
        mock=mock,
    )
