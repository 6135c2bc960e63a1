"""Files the stack ships to its hosts through the store: the host tooling and the app.

Each is content-addressed: its store key holds its SHA-256, the user data names that digest,
and a host installs nothing whose digest differs. Building one is deterministic (sorted
entries, fixed timestamps and owners), so an unchanged source gives the same bytes, the same
key and the same user data: nothing is uploaded again and no host is replaced.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import io
import os
import re
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from fastapi_deploy.stack_model.host_spec import ArtifactRef

__all__ = [
    "LocalArtifact",
    "app_package_artifact",
    "artifact_cache_dir",
    "file_artifact",
    "project_artifact",
    "tooling_archive",
    "tooling_artifact",
    "tooling_ref",
    "tooling_version",
]

# The earliest time a zip entry can carry; wheels built from the source tarball inherit it.
_FIXED_TIME = 315532800  # 1980-01-01T00:00:00Z
_EXCLUDED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".venv",
        "venv",
        "__pycache__",
        "build",
        "dist",
        ".pytest_cache",
        ".mypy_cache",
        ".ruff_cache",
        ".tox",
        ".nox",
        "node_modules",
    }
)
_EXCLUDED_SUFFIXES = (".pyc", ".pyo", ".egg-info")
TOOLING_SOURCE = Path(__file__).resolve().parent / "app_host"
TOOLING_INTERPRETER = b"#!/usr/bin/python3\n"


@dataclass(frozen=True)
class LocalArtifact:
    """An artifact as a file on the machine running Pulumi, and the reference hosts get."""

    ref: ArtifactRef
    path: Path

    @property
    def size_bytes(self) -> int:
        return self.path.stat().st_size


def artifact_cache_dir() -> Path:
    """Where built artifacts are kept for the provider to upload from."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "fastapi-deploy" / "artifacts"


def _store(name: str, data: bytes) -> LocalArtifact:
    digest = hashlib.sha256(data).hexdigest()
    directory = artifact_cache_dir()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{digest[:16]}-{name}"
    if not path.is_file() or path.stat().st_size != len(data):
        partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
        partial.write_bytes(data)
        os.replace(partial, path)
    return LocalArtifact(ArtifactRef(name=name, sha256=digest), path)


def _source_files(root: Path) -> list[Path]:
    files = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(
            name
            for name in subdirectories
            if name not in _EXCLUDED_DIRS and not name.endswith(_EXCLUDED_SUFFIXES)
        )
        for name in sorted(names):
            if not name.endswith(_EXCLUDED_SUFFIXES):
                files.append(Path(directory) / name)
    return files


@functools.cache
def tooling_archive() -> bytes:
    """The host tooling (`app_host`) as an executable zipapp, `/usr/local/sbin/app-host` on
    the hosts. Cached per process: the sources do not change while a program runs."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        entries = [("__main__.py", b"import sys\n\nfrom app_host.cli import main\n\nsys.exit(main())\n")]
        for path in _source_files(TOOLING_SOURCE):
            if path.suffix == ".py":
                entries.append((f"app_host/{path.relative_to(TOOLING_SOURCE).as_posix()}", path.read_bytes()))
        for name, data in sorted(entries):
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return TOOLING_INTERPRETER + buffer.getvalue()


def tooling_ref() -> ArtifactRef:
    """What the user data names: the zipapp's file name and digest (nothing is written)."""
    return ArtifactRef(name=_tooling_name(), sha256=hashlib.sha256(tooling_archive()).hexdigest())


def tooling_artifact() -> LocalArtifact:
    """The zipapp as a file to upload."""
    return _store(_tooling_name(), tooling_archive())


def _tooling_name() -> str:
    return f"app-host-{tooling_version()}.pyz"


def tooling_version() -> str:
    """`app_host.__version__`, read from the source (the package is not imported here)."""
    text = (TOOLING_SOURCE / "__init__.py").read_text()
    match = re.search(r'^__version__ = "([^"]+)"$', text, re.MULTILINE)
    if match is None:
        raise RuntimeError(f"{TOOLING_SOURCE}/__init__.py has no __version__")
    return match.group(1)


def project_artifact(project_dir: Path) -> LocalArtifact:
    """A Python project's source tree as a deterministic `<dir>-src.tar.gz`, which pip on the
    host builds and installs (any PEP 517 project: setuptools, hatch, poetry-core, ...)."""
    project_dir = project_dir.resolve()
    if not ((project_dir / "pyproject.toml").is_file() or (project_dir / "setup.py").is_file()):
        raise ValueError(
            f"{project_dir} has no pyproject.toml or setup.py; point it at your app's project "
            "directory, or at a built wheel (.whl)"
        )
    prefix = project_dir.name
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as archive:
        for path in _source_files(project_dir):
            data = path.read_bytes()
            info = tarfile.TarInfo(f"{prefix}/{path.relative_to(project_dir).as_posix()}")
            info.size = len(data)
            info.mtime = _FIXED_TIME
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            archive.addfile(info, io.BytesIO(data))
    packed = gzip.compress(raw.getvalue(), mtime=0)
    return _store(f"{prefix}-src.tar.gz", packed)


def file_artifact(path: Path) -> LocalArtifact:
    """A built file (a wheel or an sdist) shipped as it is."""
    if not path.is_file():
        raise ValueError(f"{path} does not exist")
    if not path.name.endswith((".whl", ".tar.gz")):
        raise ValueError(f"{path.name} is neither a wheel (.whl) nor an sdist (.tar.gz)")
    return _store(path.name, path.read_bytes())


def app_package_artifact(path_text: str, base_dir: Path) -> LocalArtifact:
    """The app's package from a path as a stack names it (relative to `base_dir`, the Pulumi
    project): a project directory is packed; a wheel or sdist is shipped as it is."""
    path = (base_dir / path_text).resolve()
    if path.is_dir():
        return project_artifact(path)
    if path.is_file():
        return file_artifact(path)
    raise ValueError(f"{path} does not exist; give the path of your app's project directory or of a built wheel")
