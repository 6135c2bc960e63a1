"""Run a Pulumi program under `pulumi.runtime.set_mocks` and record everything it registers.

Pulumi's mock runtime is global state, so every run here starts from scratch: a fresh
recorder and monitor, a fresh root stack, the run's own config. `run_program` waits for all
outstanding registrations before returning, re-raising the first error the program hit.
"""

from __future__ import annotations

import asyncio
import logging
import runpy
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pulumi
import yaml
from pulumi.runtime import mocks, rpc, settings
from pulumi.runtime.stack import run_pulumi_func
from pulumi.runtime.sync_await import _sync_await

from stack_model.stack_config import StackConfig, load_stack_config

REPO = Path(__file__).resolve().parents[2]
MAIN = REPO / "__main__.py"
PROJECT = "fastapi-deploy"
# What a `secure:` value decrypts to under test: clearly fake, valid as NAME=value lines.
DUMMY_SECRET = "MOCK_SECRET=not-a-real-secret"

__all__ = [
    "DUMMY_SECRET",
    "MAIN",
    "PROJECT",
    "REPO",
    "MockRecorder",
    "ProgramRun",
    "Registration",
    "build_component",
    "contains_secret",
    "load_stack_file",
    "load_stack_file_config",
    "resolve",
    "run_main",
    "run_program",
    "unwrap",
]


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
        plain: dict[str, Any] = unwrap(self.raw_inputs)
        return plain

    def is_secret(self, key: str) -> bool:
        return contains_secret(self.raw_inputs.get(key))

    @property
    def parent_name(self) -> str:
        return self.parent.rsplit("::", 1)[-1] if self.parent else ""


_IMAGE_FIELDS = {
    "architecture": "amd64",
    "bootMode": "UEFI",
    "description": "",
    "osType": "Linux",
    "shareStatus": "",
    "size": 40,
    "status": "available",
    "tags": [],
    "updatedAt": "2025-01-01T00:00:00Z",
    "visibility": "public",
}


def _image(image_id: str, platform: str, version: str, created_at: str) -> dict[str, Any]:
    return {
        **_IMAGE_FIELDS,
        "imageId": image_id,
        "imageName": f"{platform} {version} 64 bit",
        "osName": f"{platform} {version}",
        "platform": platform,
        "platformVersion": version,
        "isSupportCloudInit": True,
        "createdAt": created_at,
    }


# The public images the mocked region offers: two Debian 12 builds (the newer one must win),
# Debian 11, and Ubuntu.
PUBLIC_IMAGES = [
    _image("image-debian-12-old", "Debian", "12", "2024-06-01T00:00:00Z"),
    _image("image-debian-12-new", "Debian", "12.8", "2025-02-01T00:00:00Z"),
    _image("image-debian-11", "Debian", "11", "2025-03-01T00:00:00Z"),
    _image("image-ubuntu-22-04", "Ubuntu", "22.04", "2025-03-01T00:00:00Z"),
]


class MockRecorder(mocks.Mocks):
    """Returns plausible provider outputs and remembers every invoke."""

    def __init__(self, preview: bool = False) -> None:
        self.registrations: list[Registration] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.call_providers: list[str] = []
        # In a preview the provider has not created anything: computed outputs stay unknown.
        self.preview = preview

    def call(self, args: mocks.MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        self.calls.append((args.token, dict(args.args)))
        self.call_providers.append(args.provider)
        if args.token == "volcengine:ecs/getImages:getImages":
            wanted = str(args.args.get("platform") or "")
            images = [image for image in PUBLIC_IMAGES if not wanted or image["platform"] == wanted]
            return {"id": "images", "images": images, "totalCount": len(images)}, []
        return {}, []

    def new_resource(self, args: mocks.MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        outputs = dict(args.inputs)
        if not self.preview:
            outputs.update(self._computed(args.typ, args.name, args.inputs))
        return (None if self.preview else f"{args.name}-id"), outputs

    @staticmethod
    def _computed(typ: str, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
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
            return {
                "endpoints": [
                    {
                        "endpointType": "Cluster",
                        "addresses": [
                            {
                                "networkType": "Private",
                                "domain": f"{name}.pg.ivolces.com",
                                "port": "5432",
                                "ipAddress": "10.20.0.50",
                            }
                        ],
                    }
                ]
            }
        if typ == "volcengine:iam/accessKey:AccessKey":
            return {"accessKeyId": "AKLTmockkeyid", "secretAccessKey": "mock-secret-access-key"}
        if typ == "docker:index/remoteImage:RemoteImage":
            return {"imageId": "sha256:mockpostgres"}
        if typ == "docker:index/image:Image":
            return {"repoDigest": "sha256:mockapphost"}
        if typ == "command:local:Command":
            return {"stdout": "healthy after 1 probe(s)", "stderr": ""}
        return {}


class RecordingMonitor(mocks.MockMonitor):
    """The mock monitor, also keeping what `Mocks` never sees: parent, protect, secrets."""

    def __init__(self, recorder: MockRecorder) -> None:
        super().__init__(recorder)
        self.recorder = recorder

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            self.recorder.registrations.append(
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


class _ListHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class ProgramRun:
    """What one program run registered and exported."""

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


def run_program(
    program: Callable[[], Any],
    *,
    stack: str = "test",
    project: str = PROJECT,
    config: Mapping[str, Any] | None = None,
    secret_keys: set[str] | None = None,
    preview: bool = False,
) -> ProgramRun:
    """Run `program` under fresh mocks. `config` keys are without the project prefix."""
    _fresh_event_loop()
    recorder = MockRecorder(preview)
    handler = _ListHandler()
    logger = logging.getLogger(f"pulumi-mocks-{id(recorder)}")
    logger.propagate = False
    logger.addHandler(handler)
    full_config = {f"{project}:{key}": _config_text(value) for key, value in (config or {}).items()}
    pulumi.runtime.set_all_config(full_config, [f"{project}:{key}" for key in (secret_keys or set())])
    settings.ROOT.set(None)
    pulumi.runtime.set_mocks(
        recorder,
        project=project,
        stack=stack,
        preview=preview,
        logger=logger,
        monitor=RecordingMonitor(recorder),
    )
    # Outputs still pending from an earlier (failed) run must not be awaited by this one.
    settings.SETTINGS.outputs.clear()
    root = settings.get_root_resource()
    _sync_await(run_pulumi_func(program))
    outputs: dict[str, Any] = {}
    secret_outputs: set[str] = set()
    for key, value in getattr(root, "outputs", {}).items():
        outputs[key], is_secret = resolve(value)
        if is_secret:
            secret_outputs.add(key)
    warnings = [record.getMessage() for record in handler.records if record.levelno == logging.WARNING]
    logger.removeHandler(handler)
    return ProgramRun(
        recorder.registrations, recorder.calls, outputs, secret_outputs, warnings, recorder.call_providers
    )


_Built = TypeVar("_Built")


def build_component(factory: Callable[[], _Built], **kwargs: Any) -> tuple[ProgramRun, _Built]:
    """Run a program that builds one component; return the run and the component."""
    built: list[_Built] = []
    run = run_program(lambda: built.append(factory()), **kwargs)
    return run, built[0]


def _config_text(value: Any) -> str:
    """Config reaches a Python program as strings; lists and maps as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    import json

    return json.dumps(value)


def load_stack_file(
    stack: str, overrides: Mapping[str, Any] | None = None, root: Path = REPO
) -> tuple[dict[str, Any], set[str]]:
    """The `fastapi-deploy:*` values of Pulumi.<stack>.yaml (without the prefix), with
    `secure:` values replaced by a dummy, and the keys that were secure."""
    document = yaml.safe_load((root / f"Pulumi.{stack}.yaml").read_text())
    values: dict[str, Any] = {}
    secure: set[str] = set()
    for full_key, value in (document.get("config") or {}).items():
        project, _, key = full_key.partition(":")
        if project != PROJECT:
            continue
        if isinstance(value, dict) and set(value) == {"secure"}:
            value = DUMMY_SECRET
            secure.add(key)
        values[key] = value
    values.update(overrides or {})
    return values, secure


def load_stack_file_config(stack: str, overrides: Mapping[str, Any] | None = None) -> StackConfig:
    """The StackConfig `__main__.py` validates from Pulumi.<stack>.yaml (plus overrides): each
    value as the string Pulumi passes it, `secure:` values as the dummy."""
    values, _ = load_stack_file(stack, overrides)
    return load_stack_config({key: _config_text(value) for key, value in values.items()})


def run_main(stack: str, overrides: Mapping[str, Any] | None = None, preview: bool = False) -> ProgramRun:
    """Run __main__.py with the values of Pulumi.<stack>.yaml (plus overrides)."""
    config, secure = load_stack_file(stack, overrides)
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    return run_program(
        lambda: runpy.run_path(str(MAIN), run_name="__main__"),
        stack=stack,
        config=config,
        secret_keys=secure,
        preview=preview,
    )


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
