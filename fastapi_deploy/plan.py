"""The offline plan: what `pulumi up` would create, without the Pulumi CLI or a cloud account.

    python -m fastapi_deploy.plan prod [--project-dir DIR] [--set key=value ...] [--out DIR]

Runs the project's program under Pulumi's mock runtime with the stack file's config
(`secure:` values replaced by a dummy) and prints the resource tree with each resource's
inputs (secrets masked, long values cut), the user data size of each host kind, and the
policy pack's verdicts; writes a Mermaid diagram (and an SVG when Graphviz's `dot` is
installed). Ids and addresses in it are mock values. The output is deterministic, so two
plans diff cleanly (the PR workflow posts that difference). Exit status 1 when the
configuration is refused or a policy fails.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["main", "render_plan"]

HOST_TYPES = {
    "volcengine:autoscaling/scalingConfiguration:ScalingConfiguration": "scaling configuration (every fleet host)",
    "volcengine:ecs/instance:Instance": "ECS instance",
}
_LONG = 96


def _whole(value: Any) -> Any:
    """Numbers arrive from the engine as floats; 24.0 reads as 24."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_whole(item) for item in value]
    if isinstance(value, dict):
        return {key: _whole(item) for key, item in value.items()}
    return value


def _short(value: Any) -> str:
    from fastapi_deploy.artifacts import artifact_cache_dir

    value = _whole(value)
    text = json.dumps(value, sort_keys=True, ensure_ascii=False) if not isinstance(value, str) else value
    # Machine-specific paths would make two plans differ for nothing.
    text = text.replace(str(artifact_cache_dir()), "<artifact cache>")
    if len(text) > _LONG:
        return f"{text[:_LONG - 24]}... ({len(text)} characters)"
    return text


def _user_data_bytes(value: Any) -> int:
    try:
        return len(base64.b64decode(str(value), validate=True))
    except (binascii.Error, ValueError):
        return len(str(value).encode())


def _inputs(registration: Any) -> list[str]:
    shown = []
    for key in sorted(registration.raw_inputs):
        if key.startswith("__"):
            continue
        value = registration.inputs[key]
        if registration.is_secret(key):
            detail = f"{_user_data_bytes(value)} bytes" if key == "userData" else "masked"
            shown.append(f"{key}=[secret, {detail}]")
        else:
            shown.append(f"{key}={_short(value)}")
    return shown


def _tree(run: Any) -> list[str]:
    by_parent: dict[str, list[Any]] = {}
    for item in run.registrations:
        by_parent.setdefault(item.parent, []).append(item)
    roots = [item for item in run.registrations if item.parent not in {other.urn for other in run.registrations}]
    lines: list[str] = []

    def walk(item: Any, depth: int) -> None:
        indent = "  " * depth
        lines.append(f"{indent}{item.type}  {item.name}{'  [protected]' if item.protect else ''}")
        if item.custom:
            lines.extend(f"{indent}    {entry}" for entry in _inputs(item))
        for child in sorted(by_parent.get(item.urn, []), key=lambda entry: (entry.type, entry.name)):
            walk(child, depth + 1)

    for root in sorted(roots, key=lambda entry: (entry.custom, entry.type, entry.name)):
        walk(root, 1)
    return lines


def _mermaid(run: Any) -> str:
    ids = {item.urn: f"r{index}" for index, item in enumerate(sorted(run.registrations, key=lambda x: (x.type, x.name)))}
    lines = ["flowchart LR"]
    for item in sorted(run.registrations, key=lambda x: (x.type, x.name)):
        label = f"{item.name}<br/><small>{item.type.split(':')[-1]}</small>"
        shape = f'{ids[item.urn]}(["{label}"])' if not item.custom else f'{ids[item.urn]}["{label}"]'
        lines.append(f"  {shape}")
    for item in sorted(run.registrations, key=lambda x: (x.type, x.name)):
        if item.parent in ids:
            lines.append(f"  {ids[item.parent]} --> {ids[item.urn]}")
    return "\n".join(lines) + "\n"


def _dot(run: Any) -> str:
    ids = {item.urn: f"r{index}" for index, item in enumerate(sorted(run.registrations, key=lambda x: (x.type, x.name)))}
    lines = ["digraph plan {", "  rankdir=LR;", "  node [fontname=Helvetica, fontsize=10];"]
    for item in sorted(run.registrations, key=lambda x: (x.type, x.name)):
        shape = "box" if item.custom else "ellipse"
        lines.append(f'  {ids[item.urn]} [shape={shape}, label="{item.name}\\n{item.type.split(":")[-1]}"];')
    for item in sorted(run.registrations, key=lambda x: (x.type, x.name)):
        if item.parent in ids:
            lines.append(f"  {ids[item.parent]} -> {ids[item.urn]};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def render_plan(run: Any, stack: str, project: str) -> tuple[str, bool]:
    """The plan text and whether every policy passed."""
    from fastapi_deploy.policies import StackResource, evaluate

    components = sum(1 for item in run.registrations if not item.custom)
    lines = [
        f"Plan of stack {stack} (project {project}), evaluated under mocks: no cloud is called;",
        "ids and addresses are mock values, secrets are masked.",
        "",
        f"Resources: {len(run.registrations)} ({components} components)",
        *_tree(run),
        "",
        "User data (limit 16384 bytes before Base64):",
    ]
    hosts = [item for item in run.registrations if item.type in HOST_TYPES and "userData" in item.raw_inputs]
    for item in sorted(hosts, key=lambda entry: entry.name):
        lines.append(f"  {item.name}: {_user_data_bytes(item.inputs['userData'])} bytes ({HOST_TYPES[item.type]})")
    if not hosts:
        lines.append("  (no cloud hosts in this stack)")
    verdicts = evaluate(StackResource(item.type, item.name, item.urn, item.inputs) for item in run.registrations)
    lines += ["", "Policies (policy/, mandatory):"]
    for name, problems in verdicts.items():
        lines.append(f"  {name}: {'pass' if not problems else 'FAIL'}")
        lines.extend(f"    - {problem}" for problem in problems)
    outputs = ", ".join(
        f"{key}=[secret]" if key in run.secret_outputs else f"{key}={_short(value)}"
        for key, value in sorted(run.outputs.items())
    )
    lines += ["", f"Exports: {outputs}"]
    if run.warnings:
        lines += ["", "Warnings:", *(f"  {warning}" for warning in run.warnings)]
    return "\n".join(lines) + "\n", all(not problems for problems in verdicts.values())


def _value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="plan", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("stack", nargs="?", default="dev", help="stack name: reads Pulumi.<stack>.yaml (default dev)")
    parser.add_argument("--project-dir", type=Path, default=Path.cwd(), help="the Pulumi project (default: here)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a config key (JSON values allowed)"
    )
    parser.add_argument("--out", type=Path, default=None, help="where to write the diagram (default: <project>/plan)")
    parser.add_argument("--stack-file", type=Path, default=None, help="read the config from this file instead")
    args = parser.parse_args(argv)

    import pulumi

    from fastapi_deploy.testing import project_name, run_stack

    project_dir = args.project_dir.resolve()
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key] = _value(value)
    project = project_name(project_dir)
    try:
        run = run_stack(project_dir, args.stack, overrides, stack_file=args.stack_file)
    except pulumi.RunError as error:
        print(f"Plan of stack {args.stack}: the program refuses its configuration:\n{error}", file=sys.stderr)
        return 1
    text, passed = render_plan(run, args.stack, project)
    out = args.out or project_dir / "plan"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.stack}.md").write_text(f"# Plan of stack {args.stack}\n\n```mermaid\n{_mermaid(run)}```\n")
    written = [out / f"{args.stack}.md"]
    if shutil.which("dot"):
        svg = subprocess.run(["dot", "-Tsvg"], input=_dot(run), capture_output=True, text=True, check=False)
        if svg.returncode == 0:
            (out / f"{args.stack}.svg").write_text(svg.stdout)
            written.append(out / f"{args.stack}.svg")
    sys.stdout.write(text)
    shown = [path.relative_to(project_dir) if path.is_relative_to(project_dir) else path for path in written]
    print(f"\nDiagram: {', '.join(str(path) for path in shown)}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
