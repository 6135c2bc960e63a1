"""Boot harness: real Debian 12 hosts (systemd + cloud-init) in systemd-nspawn, plus the
outer services a host talks to (Postgres, an ACME CA, a Python package index).

Plain library, no pytest import: ``conftest.py`` turns it into fixtures, and it can be used
from a REPL to poke at a guest by hand. Everything here needs root.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import html
import http.server
import ipaddress
import json
import os
import platform
import pwd
import re
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import zipfile
from collections.abc import Callable, Mapping, Sequence
from email.parser import HeaderParser
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import quote

if TYPE_CHECKING:
    import psycopg

__all__ = [
    "BALANCER_ADDRESS",
    "BASE_PACKAGES",
    "DEBIAN_SUITE",
    "RECIPE_VERSION",
    "SERVICES_ADDRESS",
    "CommandError",
    "Guest",
    "GuestFactory",
    "HostNetwork",
    "HostNetworkFactory",
    "PackageIndex",
    "PackageIndexFactory",
    "PebbleAcme",
    "PostgresServer",
    "S3Server",
    "SharedAddresses",
    "TcpBalancer",
    "WaitAborted",
    "build_base_rootfs",
    "debian_mirror",
    "free_port",
    "hosts_entry",
    "iptables_rule",
    "wait_for",
]

DEBIAN_SUITE = "bookworm"

# Pre-baked into the image so that a cloud-config listing them again finds them installed:
# a guest inside a test network namespace has no route to any mirror.
BASE_PACKAGES: tuple[str, ...] = (
    "cloud-init",
    "locales",
    "ca-certificates",
    "openssl",
    "nginx",
    "certbot",
    "python3-certbot-nginx",
    "python3-venv",
    "python3-pip",
    "logrotate",
    "openssh-server",
    "iproute2",
    "procps",
    "curl",
    "postgresql-client",
    "mtail",
    # Installed by the user data when the stack ships metrics (cloud_init.render.METRICS_PACKAGES).
    "prometheus",
    "prometheus-node-exporter",
    # The journal's shipper, and the collector's receiver (the same package).
    "systemd-journal-remote",
    # The host tooling's dependencies, as the user data's package list names them.
    "python3-boto3",
    "python3-psycopg",
    "python3-cryptography",
)

# Bump whenever the build steps below change in a way that changes the image: it is part of
# the cache key, so old cached roots are simply no longer used.
RECIPE_VERSION = 3

_GUEST_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Outer variables (PIP_*, SSL_CERT_FILE, REQUESTS_CA_BUNDLE, ...) must not leak into the
# guest or the chroot, so commands there start from this environment only.
_GUEST_ENV: dict[str, str] = {
    "PATH": _GUEST_PATH,
    "LANG": "C.UTF-8",
    "HOME": "/root",
    "TERM": "dumb",
}
_SOURCES_FILE = Path("/etc/apt/sources.list.d/debian.sources")
_DEFAULT_MIRROR = "http://deb.debian.org/debian"
_LOCALE = "en_US.UTF-8"


# --------------------------------------------------------------------------- fixture types


class GuestFactory(Protocol):
    """What the ``guest_factory`` fixtures yield."""

    def __call__(
        self,
        name: str,
        user_data: str,
        *,
        instance_id: str | None = None,
        network: HostNetwork | None = None,
        start: bool = True,
    ) -> Guest: ...


class HostNetworkFactory(Protocol):
    """What the ``host_network_factory`` fixture yields: each call opens a new network."""

    def __call__(self) -> HostNetwork: ...


class PackageIndexFactory(Protocol):
    """What the ``package_index_factory`` fixture yields."""

    def __call__(
        self,
        requirements: Sequence[str] = (),
        local_projects: Sequence[Path] = (),
        *,
        bind_addresses: Sequence[str] = ("127.0.0.1",),
    ) -> PackageIndex: ...


# --------------------------------------------------------------------------- small helpers


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago (the kernel picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


class WaitAborted(RuntimeError):
    """Raised by a ``wait_for`` predicate when waiting longer is pointless."""


def wait_for(
    predicate: Callable[[], bool],
    timeout: float,
    interval: float = 0.5,
    what: str = "condition",
) -> None:
    """Poll ``predicate`` until it is true; raise TimeoutError naming ``what`` otherwise.

    Exceptions raised by the predicate count as "not yet" (services refuse connections
    while they start); the last one is chained to the TimeoutError to help diagnosis.
    A predicate raises WaitAborted to stop waiting at once (the service died).
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            if predicate():
                return
        except WaitAborted:
            raise
        except Exception as error:  # any other failure means "not ready yet"
            last_error = error
        if time.monotonic() >= deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}") from (last_error)
        time.sleep(interval)


class CommandError(subprocess.CalledProcessError):
    """A failed command whose message ends with its output, so a test failure shows why."""

    def __str__(self) -> str:
        text = super().__str__()
        for label, stream in (("stdout", self.stdout), ("stderr", self.stderr)):
            if stream:
                tail = "\n".join(str(stream).splitlines()[-30:])
                text += f"\n--- {label} (last 30 lines) ---\n{tail}"
        return text


def _run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    check: bool = True,
    timeout: float | None = 600,
    env: Mapping[str, str] | None = None,
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command capturing text output; on failure the error shows that output.

    The command gets its own process group, killed as a whole on timeout or interrupt:
    killing only ``nsenter`` would leave the command it forked running inside a guest.
    """
    with subprocess.Popen(
        [os.fspath(arg) for arg in argv],
        stdin=subprocess.PIPE if input_text is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(env) if env is not None else None,
        start_new_session=True,
    ) as process:
        try:
            stdout, stderr = process.communicate(input_text, timeout=timeout)
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
    result = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    if check and result.returncode != 0:
        raise CommandError(result.returncode, result.args, output=result.stdout, stderr=result.stderr)
    return result


def _stop_process(process: subprocess.Popen[bytes] | None, sig: int, timeout: float) -> None:
    """Signal a process started in its own session, then SIGKILL its group if it lingers."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)


def _tail(path: Path, lines: int = 40) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.splitlines()[-lines:])


def _remove_tree(path: Path) -> None:
    """Delete a directory without ever crossing into another filesystem (a leaked bind
    mount of /dev or an overlay mount must not take the outer files with it)."""
    if path.exists() or path.is_symlink():
        _run(["rm", "-rf", "--one-file-system", "--", path], timeout=600)


def _is_mountpoint(path: Path) -> bool:
    return _run(["mountpoint", "-q", path], check=False).returncode == 0


# --------------------------------------------------------------------------- base image


def debian_mirror(sources_file: Path = _SOURCES_FILE) -> str:
    """The Debian mirror the outer machine's apt uses (deb822 ``URIs`` of the main archive)."""
    try:
        text = sources_file.read_text()
    except OSError:
        return _DEFAULT_MIRROR
    for stanza in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        for line in stanza.splitlines():
            if line.startswith("#") or ":" not in line:
                continue
            key, _, value = line.partition(":")
            fields[key.strip().lower()] = value.strip()
        suites = fields.get("suites", "").split()
        for uri in fields.get("uris", "").split():
            if DEBIAN_SUITE in suites and "security" not in uri:
                return uri.rstrip("/")
    return _DEFAULT_MIRROR


def _guest_sources(mirror: str) -> str:
    """apt sources for the image: the outer machine's file when it has one (same archive
    snapshot as the outer packages), otherwise the main suite from ``mirror``."""
    try:
        return _SOURCES_FILE.read_text()
    except OSError:
        return (
            f"Types: deb\nURIs: {mirror}\nSuites: {DEBIAN_SUITE} {DEBIAN_SUITE}-updates\n"
            "Components: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
        )


def _image_key(packages: Sequence[str], mirror: str, sources: str) -> str:
    recipe = {
        "recipe": RECIPE_VERSION,
        "suite": DEBIAN_SUITE,
        "arch": platform.machine(),
        "packages": sorted(packages),
        "mirror": mirror,
        "sources": sources,
        "locale": _LOCALE,
    }
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:16]


# Runs on the outer machine inside a private mount namespace (unshare -m): the pseudo
# filesystems mounted for the chroot vanish with the namespace, even if the build dies.
_CHROOT_SCRIPT = r"""
set -eu
root="$1"; shift
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
mount --rbind /dev "$root/dev"
in_root() {
    chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        DEBIAN_FRONTEND=noninteractive HOME=/root "$@"
}
in_root apt-get update
in_root apt-get install -y --no-install-recommends "$@"
sed -i -e 's/^# *\(__LOCALE__ UTF-8\)/\1/' "$root/etc/locale.gen"
in_root locale-gen
in_root update-locale LANG=__LOCALE__
in_root apt-get clean
"""


def build_base_rootfs(
    cache_dir: Path, extra_packages: Sequence[str] = (), *, base_packages: Sequence[str] = BASE_PACKAGES
) -> Path:
    """Return a cached Debian 12 root with systemd, cloud-init and `base_packages` (default
    BASE_PACKAGES, the pre-baked image) installed.

    The directory is named after a hash of the package list and the recipe, built in a
    temporary directory and renamed into place only when complete; an fcntl lock makes
    parallel test processes wait for one build instead of racing. Treat the result as
    read-only: guests overlay it.
    """
    packages = [*base_packages, *extra_packages]
    mirror = debian_mirror()
    sources = _guest_sources(mirror)
    key = _image_key(packages, mirror, sources)
    cache_dir.mkdir(parents=True, exist_ok=True)
    image_dir = cache_dir / f"debian12-{key}"
    rootfs = image_dir / "rootfs"
    with (cache_dir / f"debian12-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (image_dir / "build-info.json").is_file():
            return rootfs
        # Leftovers of a killed build: never reused, removed while we hold the lock.
        for stale in cache_dir.glob(f".building-{key}-*"):
            _remove_tree(stale)
        staging = Path(tempfile.mkdtemp(prefix=f".building-{key}-", dir=cache_dir))
        try:
            started = time.monotonic()
            _build_into(staging / "rootfs", packages, mirror, sources)
            info = {
                "key": key,
                "recipe": RECIPE_VERSION,
                "packages": packages,
                "mirror": mirror,
                "build_seconds": round(time.monotonic() - started, 1),
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            }
            (staging / "build-info.json").write_text(json.dumps(info, indent=2) + "\n")
            staging.chmod(0o755)
            os.rename(staging, image_dir)
        except BaseException:
            _remove_tree(staging)
            raise
    return rootfs


def _build_into(rootfs: Path, packages: Sequence[str], mirror: str, sources: str) -> None:
    build_env = {"PATH": _GUEST_PATH, "LANG": "C.UTF-8"}
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=systemd,systemd-sysv,dbus",
            DEBIAN_SUITE,
            rootfs,
            mirror,
        ],
        env=build_env,
        timeout=1200,
    )
    etc = rootfs / "etc"
    # Same archive as the outer machine. Its snapshot's Release files are past their
    # Valid-Until date, so apt must not reject them (the outer apt is configured alike).
    (etc / "apt/sources.list").unlink(missing_ok=True)
    (etc / "apt/sources.list.d/debian.sources").write_text(sources)
    (etc / "apt/apt.conf.d/99test-image-snapshot").write_text('Acquire::Check-Valid-Until "false";\n')
    # Keep package scripts from starting daemons inside the chroot.
    policy = rootfs / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    script = _CHROOT_SCRIPT.replace("__LOCALE__", _LOCALE)
    _run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "build", rootfs, *packages],
        env=build_env,
        timeout=1800,
    )
    policy.unlink()

    # No apt lists in the image: everything a test host needs is installed already.
    _remove_tree(rootfs / "var/lib/apt/lists")
    (rootfs / "var/lib/apt/lists/partial").mkdir(parents=True)
    for cache_file in (rootfs / "var/cache/apt").glob("*.bin"):
        cache_file.unlink()
    # As on a cloud image, where these come with the user data only when the stack ships
    # metrics or journals: not running unless the host's tooling (or the collector's user
    # data) starts them.
    for wants, unit in (
        ("multi-user.target.wants", "prometheus.service"),
        ("multi-user.target.wants", "prometheus-node-exporter.service"),
        ("multi-user.target.wants", "systemd-journal-upload.service"),
        ("sockets.target.wants", "systemd-journal-remote.socket"),
    ):
        (etc / "systemd/system" / wants / unit).unlink(missing_ok=True)
    # Empty machine-id: each guest gets its own on first boot.
    (etc / "machine-id").write_text("")
    (rootfs / "var/lib/dbus/machine-id").unlink(missing_ok=True)
    # Persistent journal, so logs of earlier boots survive a reboot and a dead guest.
    (rootfs / "var/log/journal").mkdir(parents=True, exist_ok=True)
    (etc / "hostname").write_text("localhost\n")
    cloud_cfg = etc / "cloud/cloud.cfg.d"
    cloud_cfg.mkdir(parents=True, exist_ok=True)
    (cloud_cfg / "90-test-image-datasource.cfg").write_text("datasource_list: [ NoCloud, None ]\n")
    # The harness wires the network from outside (shared outer namespace, or a veth in a
    # test namespace); cloud-init must never try to configure interfaces it can see.
    (cloud_cfg / "91-test-image-network.cfg").write_text("network: {config: disabled}\n")
    # A guest that shares the outer network namespace must not fight the outer sshd for
    # port 22. Debian's sshd_config has only a commented "Port 22", so the guest listens on
    # 2222 alone. Port lines accumulate: user data that adds one adds a port.
    sshd_dropins = etc / "ssh/sshd_config.d"
    sshd_dropins.mkdir(parents=True, exist_ok=True)
    (sshd_dropins / "00-test-image.conf").write_text(
        "# boot test image only: the guest may share the outer network namespace\nPort 2222\n"
    )


# --------------------------------------------------------------------------- guests


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(comm, ppid) of a process, or None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm is in parentheses and may itself contain spaces or ")": split at the last one.
    comm = raw[raw.index("(") + 1 : raw.rindex(")")]
    fields = raw[raw.rindex(")") + 2 :].split()
    return comm, int(fields[1])


def _copier(source: Path, target: Path) -> Callable[[], None]:
    def copy() -> None:
        shutil.copyfile(source, target)

    return copy


def _cgroup_roots() -> list[Path]:
    """Mount points of the cgroup hierarchies systemd-nspawn places a guest in: the
    unified (v2) one and, on a hybrid host, the v1 ``name=systemd`` one."""
    roots: list[Path] = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, _, after = line.partition(" - ")
        mount_point = Path(before.split()[4])
        # After the separator: filesystem type, source, super options.
        fs_type, _source, options = [*after.split(), "", "", ""][:3]
        if fs_type == "cgroup2" or (fs_type == "cgroup" and "name=systemd" in options.split(",")):
            roots.append(mount_point)
    return roots


def _remove_cgroup(cgroup: Path) -> None:
    """Remove a cgroup and its children, deepest first; busy ones stay (and are harmless)."""
    if not cgroup.is_dir():
        return
    for directory, _subdirs, _files in os.walk(cgroup, topdown=False):
        with contextlib.suppress(OSError):
            os.rmdir(directory)


def _pid_namespace(pid: int | str) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return None


class Guest:
    """One Debian host booted by systemd-nspawn from an overlay of the base root.

    The guest's disk is ``work_dir/overlay/upper`` over the read-only base, so a reboot
    keeps everything written to disk while /run (a tmpfs inside the guest) starts empty.
    Without ``network_namespace`` the guest shares the outer network namespace (its nginx
    answers on the outer 127.0.0.1); with one, it only sees that namespace (HostNetwork).
    """

    def __init__(
        self,
        name: str,
        base_rootfs: Path,
        work_dir: Path,
        user_data: str,
        instance_id: str,
        network_namespace: str | None = None,
        *,
        hostname: str | None = None,
    ) -> None:
        if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9-]{0,49}", name):
            raise ValueError(f"guest name {name!r} must be a hostname label (letters, digits, -)")
        self.name = name
        self.base_rootfs = base_rootfs
        self.work_dir = work_dir
        self.user_data = user_data
        self.instance_id = instance_id
        self.network_namespace = network_namespace
        self.hostname = hostname or name
        # nspawn keys some runtime state on the machine name; a suffix keeps two tests
        # that both call their guest "app" from meeting there.
        self.machine_name = f"{name}-{secrets.token_hex(3)}"
        self.root_dir = work_dir / "root"
        self.upper_dir = work_dir / "overlay" / "upper"
        self.overlay_work_dir = work_dir / "overlay" / "work"
        self.console_log = work_dir / "console.log"
        self.boot_count = 0
        self._copied_root = False
        self._process: subprocess.Popen[bytes] | None = None
        self._leader: int | None = None
        self._cgroups: list[Path] = []

    # -- lifecycle

    def start(self, timeout_seconds: float = 60) -> None:
        """Mount the root, write the NoCloud seed and boot; return once the container's
        init (systemd) runs, so ``exec`` works. Cloud-init is still running then.
        A guest that is already running is left alone (factories may start it first)."""
        if self.running:
            return
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._mount_root()
        self._write_seed()
        self.boot_count += 1
        argv = [
            "systemd-nspawn",
            # No systemd on the outer machine: nothing to register with, no unit to create.
            "--register=no",
            "--keep-unit",
            "--boot",
            "--console=read-only",
            # Keep the guest's journal in the guest (persistent under /var/log/journal).
            "--link-journal=no",
            f"--directory={self.root_dir}",
            f"--machine={self.machine_name}",
            f"--hostname={self.hostname}",
        ]
        if self.network_namespace is not None:
            argv.append(f"--network-namespace-path=/run/netns/{self.network_namespace}")
        with self.console_log.open("ab") as console:
            console.write(f"\n===== harness: boot {self.boot_count} of {self.name} =====\n".encode())
            console.flush()
            self._process = subprocess.Popen(
                self._in_own_cgroups(argv),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                env=_GUEST_ENV,
                # Own process group: a stray Ctrl-C in the test terminal does not reach it,
                # and stop() can kill the whole group if a clean shutdown hangs.
                start_new_session=True,
            )
        self._leader = None
        try:
            self._wait_for_leader(timeout_seconds)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_seconds: float = 90) -> None:
        """Shut down cleanly (SIGTERM to nspawn powers the guest off), SIGKILL after
        ``timeout_seconds``, then unmount the root. Safe to call more than once."""
        process, self._process = self._process, None
        leader, self._leader = self._leader, None
        _stop_process(process, signal.SIGTERM, timeout_seconds)
        if leader is not None and _proc_stat(leader) is not None:
            # Killing a PID namespace's init kills everything left inside it.
            with contextlib.suppress(ProcessLookupError):
                os.kill(leader, signal.SIGKILL)
            wait_for(lambda: _proc_stat(leader) is None, 30, 0.2, f"guest {self.name} init to exit")
        for cgroup in self._cgroups:
            _remove_cgroup(cgroup)
        self._unmount_root()

    def reboot(self, timeout_seconds: float = 90) -> None:
        """Power off and boot again on the same disk and seed (same instance-id, so
        cloud-init runs only its per-boot modules). Returns when the new init runs."""
        self.stop(timeout_seconds)
        self.start()

    def close(self) -> None:
        self.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def nspawn_pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def leader_pid(self) -> int:
        """PID (outer view) of the guest's init: the nspawn child in a new PID namespace."""
        if not self.running:
            raise RuntimeError(f"guest {self.name} is not running; see {self.console_log}")
        if self._leader is None or _proc_stat(self._leader) is None:
            self._leader = self._find_leader()
        if self._leader is None:
            raise RuntimeError(f"guest {self.name}: no init process under nspawn")
        return self._leader

    # -- inside the guest

    def exec(
        self,
        argv: Sequence[str],
        check: bool = True,
        timeout: float = 120,
        *,
        input_text: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        """Run a command in all of the guest's namespaces, with a clean environment (the
        outer PIP_*/SSL_* variables would otherwise leak in)."""
        argv_outer = ["nsenter", f"--target={self.leader_pid()}", "--all", "--root", "--wd", "--"]
        return _run(
            [*argv_outer, *argv],
            check=check,
            timeout=timeout,
            env={**_GUEST_ENV, **(env or {})},
            input_text=input_text,
        )

    def read_file(self, path: str) -> str:
        """A file's text as the running guest sees it (works for its /run too)."""
        return self.exec(["cat", "--", path]).stdout

    def wait_for_cloud_init(self, timeout_seconds: float = 300) -> dict[str, Any]:
        """Wait for this boot's cloud-init to finish; return /run/cloud-init/result.json.

        The file lives on the guest's /run tmpfs, so it only exists once the current boot's
        final stage is done (after a reboot the on-disk copy from the last boot does not
        count). Errors are in ``result["v1"]["errors"]``.
        """
        deadline = time.monotonic() + timeout_seconds
        while True:
            if not self.running:
                raise RuntimeError(
                    f"guest {self.name} exited before cloud-init finished; console tail:\n"
                    + _tail(self.console_log)
                )
            probe = self.exec(["cat", "/run/cloud-init/result.json"], check=False, timeout=30)
            if probe.returncode == 0 and probe.stdout.strip():
                with contextlib.suppress(json.JSONDecodeError):
                    result: dict[str, Any] = json.loads(probe.stdout)
                    return result
            if time.monotonic() >= deadline:
                status = self.exec(["cloud-init", "status", "--long"], check=False, timeout=30)
                raise TimeoutError(
                    f"guest {self.name}: cloud-init not done after {timeout_seconds:.0f}s\n"
                    f"{status.stdout}{status.stderr}"
                )
            time.sleep(1)

    def failed_units(self) -> list[str]:
        """Names of systemd units in the failed state."""
        listing = self.exec(["systemctl", "list-units", "--failed", "--plain", "--no-legend", "--no-pager"])
        return [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]

    # -- diagnostics

    def collect_logs(self, dest: Path) -> Path:
        """Copy the journal (all boots), cloud-init logs and result, nginx logs and the
        console into ``dest``. Reads from the disk when the guest is not running."""
        dest.mkdir(parents=True, exist_ok=True)
        problems: list[str] = []

        def attempt(label: str, action: Callable[[], None]) -> None:
            try:
                action()
            except Exception as error:  # collect what we can, report the rest
                problems.append(f"{label}: {error!r}")

        if self.running:

            def from_guest(argv: Sequence[str], target: str) -> Callable[[], None]:
                def action() -> None:
                    result = self.exec(argv, check=False, timeout=120)
                    (dest / target).write_text(result.stdout + result.stderr)

                return action

            attempt("journal", from_guest(["journalctl", "--no-pager", "-o", "short-precise"], "journal.txt"))
            attempt("result.json", from_guest(["cat", "/run/cloud-init/result.json"], "result.json"))
            attempt("status", from_guest(["cloud-init", "status", "--long"], "cloud-init-status.txt"))
            attempt("failed units", from_guest(["systemctl", "--failed", "--no-pager"], "failed-units.txt"))
        else:

            def journal_from_disk() -> None:
                journal_dir = self._disk_path("var/log/journal")
                result = _run(
                    ["journalctl", "--no-pager", "-o", "short-precise", f"--directory={journal_dir}"],
                    check=False,
                )
                (dest / "journal.txt").write_text(result.stdout + result.stderr)

            attempt("journal", journal_from_disk)
        for relative in (
            "var/log/cloud-init.log",
            "var/log/cloud-init-output.log",
            "var/lib/cloud/data/result.json",
            "var/lib/cloud/data/status.json",
            "var/log/nginx/error.log",
            "var/log/nginx/access.log",
        ):
            source = self._disk_path(relative)
            if source.is_file():
                attempt(relative, _copier(source, dest / relative.replace("/", "_")))
        if self.console_log.is_file():
            attempt("console", _copier(self.console_log, dest / "console.log"))
        if problems:
            (dest / "collect-problems.txt").write_text("\n".join(problems) + "\n")
        return dest

    # -- internals

    def _find_leader(self) -> int | None:
        nspawn = self.nspawn_pid
        if nspawn is None:
            return None
        outer_namespace = _pid_namespace("self")
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            stat = _proc_stat(pid)
            # nspawn forks an intermediate child first; the init is the child that lives
            # in a new PID namespace and has exec'd systemd.
            if stat is None or stat[1] != nspawn or stat[0] != "systemd":
                continue
            namespace = _pid_namespace(pid)
            if namespace is not None and namespace != outer_namespace:
                return pid
        return None

    def _wait_for_leader(self, timeout_seconds: float) -> None:
        deadline = time.monotonic() + timeout_seconds
        while True:
            if not self.running:
                raise RuntimeError(
                    f"systemd-nspawn for guest {self.name} exited; console tail:\n" + _tail(self.console_log)
                )
            self._leader = self._find_leader()
            if self._leader is not None:
                return
            if time.monotonic() >= deadline:
                raise TimeoutError(f"guest {self.name}: no init after {timeout_seconds:.0f}s")
            time.sleep(0.1)

    def _in_own_cgroups(self, argv: list[str]) -> list[str]:
        """Wrap ``argv`` so nspawn starts in a fresh cgroup of its own.

        With --keep-unit nspawn puts the guest in a "payload" cgroup below its *current*
        cgroup. Two guests started from one test process would share that cgroup, and each
        guest's systemd would then manage (and kill) the other's services.
        """
        self._cgroups = []
        for root in _cgroup_roots():
            cgroup = root / "boot-harness" / self.machine_name
            try:
                cgroup.mkdir(parents=True, exist_ok=True)
            except OSError:
                continue  # read-only cgroupfs (inside a container): nspawn copes or says why
            self._cgroups.append(cgroup)
        procs_files = [str(cgroup / "cgroup.procs") for cgroup in self._cgroups]
        join_then_exec = 'while [ "$1" != -- ]; do echo $$ > "$1"; shift; done; shift; exec "$@"'
        return ["sh", "-c", join_then_exec, "sh", *procs_files, "--", *argv]

    def _mount_root(self) -> None:
        if self._copied_root or _is_mountpoint(self.root_dir):
            return
        for directory in (self.root_dir, self.upper_dir, self.overlay_work_dir):
            directory.mkdir(parents=True, exist_ok=True)
        options = f"lowerdir={self.base_rootfs},upperdir={self.upper_dir},workdir={self.overlay_work_dir}"
        mounted = _run(
            ["mount", "-t", "overlay", f"overlay-{self.name}", "-o", options, self.root_dir],
            check=False,
        )
        if mounted.returncode == 0:
            return
        # Some filesystems cannot be an overlay's upper layer: a full copy (cheap when the
        # filesystem supports reflinks) behaves the same, just slower to create.
        _run(["cp", "-a", "--reflink=auto", f"{self.base_rootfs}/.", self.root_dir], timeout=900)
        self._copied_root = True

    def _unmount_root(self) -> None:
        if self._copied_root or not _is_mountpoint(self.root_dir):
            return
        for _ in range(20):
            if _run(["umount", self.root_dir], check=False).returncode == 0:
                return
            time.sleep(0.5)
        # Something still holds it (a late log reader?): detach so the test can go on.
        _run(["umount", "--lazy", self.root_dir])

    def _disk_path(self, relative: str) -> Path:
        """Where a guest file lives on the outer disk, mounted or not."""
        if self._copied_root or _is_mountpoint(self.root_dir):
            return self.root_dir / relative
        in_upper = self.upper_dir / relative
        return in_upper if in_upper.exists() else self.base_rootfs / relative

    def place_file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Put a file on the guest's disk before it boots, as a platform that uploads files
        into a host does (the dev stack's Docker uploads)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self._mount_root()
        target = self.root_dir / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        target.chmod(mode)

    def _write_seed(self) -> None:
        seed = self.root_dir / "var/lib/cloud/seed/nocloud"
        seed.mkdir(parents=True, exist_ok=True)
        (seed / "user-data").write_text(self.user_data)
        (seed / "meta-data").write_text(f"instance-id: {self.instance_id}\nlocal-hostname: {self.hostname}\n")


# --------------------------------------------------------------------------- networks

_NETWORK_LOCK = Path("/run/boot-harness-networks.lock")
_NETWORK_PREFIX = ipaddress.ip_network("10.213.0.0/16")

SHARED_NETWORK = ipaddress.ip_network("10.213.255.0/24")
# Where every guest finds the outer services (Postgres, the store, the index, pebble).
SERVICES_ADDRESS = "10.213.255.254"
# Where the test load balancer listens, and what the test DNS gives the fleet's domain.
BALANCER_ADDRESS = "10.213.255.1"




class HostNetwork:
    """A network namespace for one guest, joined to the outer machine by a veth pair.

    Host number N gets 10.213.N.0/30: the outer end is .1 (``outer_address``, where the
    outer services a guest needs must listen), the guest end is .2 (``guest_address``,
    interface eth0 in the namespace). There is deliberately no default route: a guest
    reaches only the outer end, never the outer machine's other networks. N is picked
    under a lock file so parallel test processes never share a subnet.
    """

    def __init__(self) -> None:
        self.index: int | None = None
        self.namespace = ""
        self.outer_interface = ""
        self.guest_interface = "eth0"
        self.outer_address = ""
        self.guest_address = ""
        self.prefix_length = 30

    @property
    def netns_path(self) -> Path:
        return Path("/run/netns") / self.namespace

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(f"{self.outer_address}/{self.prefix_length}", strict=False)

    def open(self) -> Self:
        if self.index is not None:
            return self
        _NETWORK_LOCK.parent.mkdir(parents=True, exist_ok=True)
        with _NETWORK_LOCK.open("w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            # 10.213.255.0/24 is SharedAddresses'.
            index = next((n for n in range(255) if self._is_free(n)), None)
            if index is None:
                raise RuntimeError("all 255 test host networks in 10.213.0.0/16 are in use")
            self._assign(index)
            try:
                self._create()
            except BaseException:
                self.close()
                raise
        return self

    def close(self) -> None:
        """Delete the veth pair and the namespace; tolerant of half-created state."""
        if self.index is None:
            return
        if Path(f"/sys/class/net/{self.outer_interface}").exists():
            _run(["ip", "link", "del", self.outer_interface], check=False)
        if self.netns_path.exists():
            _run(["ip", "netns", "del", self.namespace])
        self.index = None

    def run(
        self, argv: Sequence[str], check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run an outer command inside the namespace (for example a probe of the guest)."""
        return _run(["ip", "netns", "exec", self.namespace, *argv], check=check, timeout=timeout)

    def __enter__(self) -> Self:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _assign(self, index: int) -> None:
        self.index = index
        self.namespace = f"boot-host-{index}"
        self.outer_interface = f"boot{index}o"
        base = _NETWORK_PREFIX.network_address + (index << 8)
        self.outer_address = str(base + 1)
        self.guest_address = str(base + 2)

    @staticmethod
    def _is_free(index: int) -> bool:
        if Path(f"/run/netns/boot-host-{index}").exists():
            return False
        if Path(f"/sys/class/net/boot{index}o").exists():
            return False
        subnet = f"{_NETWORK_PREFIX.network_address + (index << 8)}/{30}"
        in_use = _run(["ip", "-o", "-4", "addr", "show", "to", subnet], check=False)
        return not in_use.stdout.strip()

    def _create(self) -> None:
        ns = self.namespace
        _run(["ip", "netns", "add", ns])
        _run(
            [
                "ip",
                "link",
                "add",
                self.outer_interface,
                "type",
                "veth",
                "peer",
                "name",
                self.guest_interface,
                "netns",
                ns,
            ]
        )
        _run(["ip", "addr", "add", f"{self.outer_address}/{self.prefix_length}", "dev", self.outer_interface])
        _run(["ip", "link", "set", self.outer_interface, "up"])
        _run(
            [
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                f"{self.guest_address}/{self.prefix_length}",
                "dev",
                self.guest_interface,
            ]
        )
        _run(["ip", "-n", ns, "link", "set", "lo", "up"])
        _run(["ip", "-n", ns, "link", "set", self.guest_interface, "up"])
        # The shared addresses (SharedAddresses) are reached through the outer end, so that
        # every guest names the same services and can boot the same user data.
        _run(["ip", "-n", ns, "route", "add", str(SHARED_NETWORK), "via", self.outer_address])


# --------------------------------------------------------------------------- postgres


def _postgres_bin_dir() -> Path:
    """Server binaries of the newest PostgreSQL installed the Debian way (15 on Debian 12,
    16 on Ubuntu 24.04); the first initdb on PATH otherwise."""
    versions = sorted(
        (int(path.parent.name), path)
        for path in Path("/usr/lib/postgresql").glob("*/bin")
        if path.parent.name.isdigit() and (path / "initdb").is_file()
    )
    if versions:
        return versions[-1][1]
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else Path("/usr/lib/postgresql/15/bin")


class _OuterService:
    """`with Service(...) as service:` starts it and stops it, whatever happens inside."""

    def start(self) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


# --------------------------------------------------------------------------- shared addresses


class SharedAddresses(_OuterService):
    """Addresses on the outer machine that guests in any HostNetwork reach the same way (each
    namespace routes 10.213.255.0/24 to its outer end): the services' and the load balancer's
    addresses as /32s on the outer loopback (the dummy link type needs a kernel module that a
    container cannot load). Nothing is routed anywhere else."""

    interface = "lo"
    addresses = (SERVICES_ADDRESS, BALANCER_ADDRESS)

    def _present(self, address: str) -> bool:
        shown = _run(["ip", "-o", "addr", "show", "dev", self.interface, "to", f"{address}/32"], check=False)
        return bool(shown.stdout.strip())

    def start(self) -> Self:
        for address in self.addresses:
            if not self._present(address):
                _run(["ip", "addr", "add", f"{address}/32", "dev", self.interface])
        return self

    def stop(self) -> None:
        for address in self.addresses:
            if self._present(address):
                _run(["ip", "addr", "del", f"{address}/32", "dev", self.interface], check=False)


class TcpBalancer(_OuterService):
    """HAProxy passing TCP 80 and 443 at `address` round-robin to backends: the test bed's
    stand-in for the CLB, health-checked as the LoadBalancer component configures it (a TCP
    handshake with the hosts' health gate, its interval, timeout and thresholds). So a booting
    host gets no traffic, ACME validations included, until its app answers through Nginx, and
    a host whose app dies is taken out. `set_backends` restarts it with a new list."""

    def __init__(self, work_dir: Path, address: str = BALANCER_ADDRESS) -> None:
        self.work_dir = work_dir
        self.address = address
        self.backends: list[str] = []
        self._process: subprocess.Popen[bytes] | None = None
        self._retired: list[subprocess.Popen[bytes]] = []

    @property
    def _stats_socket(self) -> Path:
        return self.work_dir / "haproxy.sock"

    def _config(self) -> str:
        # The component's own values, so the stand-in follows them if they change.
        from fastapi_deploy.components.load_balancer import HEALTH_CHECK_PORT, LoadBalancerArgs

        defaults = {name: field.default for name, field in LoadBalancerArgs.model_fields.items()}
        lines = [
            "global",
            "    maxconn 4096",
            f"    stats socket {self._stats_socket} mode 600 level user",
            "defaults",
            "    mode tcp",
            "    timeout connect 5s",
            "    timeout client 120s",
            "    timeout server 120s",
            f"    timeout check {defaults['health_check_timeout_seconds']}s",
        ]
        for port in (80, 443):
            lines += [f"frontend in{port}", f"    bind {self.address}:{port}", f"    default_backend out{port}"]
            lines += [f"backend out{port}", "    balance roundrobin"]
            lines += [
                f"    server host{index} {backend}:{port} check port {HEALTH_CHECK_PORT}"
                f" inter {defaults['health_check_interval_seconds']}s"
                f" rise {defaults['healthy_threshold']} fall {defaults['unhealthy_threshold']}"
                for index, backend in enumerate(self.backends)
            ]
        return "\n".join(lines) + "\n"

    def states(self, port: int = 443) -> dict[str, str]:
        """Backend address -> its state in the listener on `port` ('UP', 'DOWN', or a
        transition such as 'UP 1/3'), as the balancer's health checks see it."""
        with socket.socket(socket.AF_UNIX) as connection:
            connection.connect(str(self._stats_socket))
            connection.sendall(b"show stat\n")
            chunks = []
            while chunk := connection.recv(65536):
                chunks.append(chunk)
        rows = b"".join(chunks).decode().splitlines()
        header = rows[0].lstrip("# ").split(",")
        states: dict[str, str] = {}
        for row in rows[1:]:
            values = dict(zip(header, row.split(","), strict=False))
            if values.get("pxname") == f"out{port}" and values.get("svname", "").startswith("host"):
                states[self.backends[int(values["svname"][4:])]] = values["status"]
        return states

    def up(self, port: int = 443) -> set[str]:
        """Backends taking traffic on `port`: 'UP', or 'UP 1/3' while a check is in flight
        (as after a reload)."""
        return {address for address, state in self.states(port).items() if state.startswith("UP")}

    def set_backends(self, backends: Sequence[str]) -> None:
        self.backends = list(backends)
        self.stop()
        self.start()

    def reload(self, backends: Sequence[str]) -> None:
        """A new backend list without dropping a connection: a new HAProxy takes the
        listeners (`-sf`), the old one stops accepting and finishes the connections it holds,
        as a CLB drains a server it deregisters. A server added this way starts UP (HAProxy
        2.6 has no init-state), so add a host only once its own checks pass."""
        self.backends = list(backends)
        config = self.work_dir / "haproxy.cfg"
        config.write_text(self._config())
        _run(["haproxy", "-c", "-f", config])
        old = self._process
        with (self.work_dir / "haproxy.log").open("ab") as log:
            self._process = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config), *(["-sf", str(old.pid)] if old is not None else [])],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if old is not None:
            # The old one exits once its connections are done (or at the client timeout).
            self._retired.append(old)

        def answering() -> bool:
            # The new process owns the stats socket once it lists exactly the new servers.
            try:
                return sorted(self.states(443)) == sorted(self.backends)
            except (OSError, IndexError, ValueError):
                return False

        wait_for(answering, 10, 0.1, "the reloaded haproxy answering")

    def start(self) -> Self:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        config = self.work_dir / "haproxy.cfg"
        config.write_text(self._config())
        _run(["haproxy", "-c", "-f", config])
        with (self.work_dir / "haproxy.log").open("ab") as log:
            self._process = subprocess.Popen(
                ["haproxy", "-db", "-f", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

        def listening() -> bool:
            if self._process is not None and self._process.poll() is not None:
                raise WaitAborted(f"haproxy exited: {_tail(self.work_dir / 'haproxy.log')}")
            with socket.create_connection((self.address, 443), 1):
                return True

        wait_for(listening, 10, 0.1, "haproxy listening")
        return self

    def stop(self) -> None:
        for process in [*self._retired, self._process]:
            _stop_process(process, signal.SIGTERM, 10)
        self._retired = []
        self._process = None

    def log_files(self) -> list[Path]:
        return [self.work_dir / "haproxy.log"]


@contextlib.contextmanager
def hosts_entry(name: str, address: str, hosts_file: Path = Path("/etc/hosts")) -> Any:
    """`name` resolves to `address` on the outer machine for the block (for clients such as
    wrk that take no --resolve); the file is put back byte for byte afterwards."""
    original = hosts_file.read_bytes()
    hosts_file.write_bytes(original + f"\n{address} {name}  # boot test\n".encode())
    try:
        yield
    finally:
        hosts_file.write_bytes(original)


@contextlib.contextmanager
def iptables_rule(chain: str, *rule: str) -> Any:
    """One iptables rule on the outer machine for the block, removed afterwards. For faults
    between the outer services and the test's own guests only."""
    _run(["iptables", "-I", chain, *rule])
    try:
        yield
    finally:
        _run(["iptables", "-D", chain, *rule], check=False)


class S3Server(_OuterService):
    """An S3-compatible server (moto) in the test process: the stand-in for the stack's
    bucket. Guests reach it at any address it is bound to, path-style (an IP address has no
    virtual-host names)."""

    def __init__(self, bind_address: str = "127.0.0.1", port: int | None = None) -> None:
        self.bind_address = bind_address
        self.port = port or free_port("127.0.0.1")
        self.access_key_id = "boot-test-key"
        self.secret_access_key = "boot-test-secret"
        self.region = "us-east-1"
        self._server: Any = None

    def start(self) -> Self:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=self.bind_address, port=self.port)
        self._server.start()
        wait_for(lambda: self.client().list_buckets() is not None, 30, 0.2, "the S3 server")
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None

    def endpoint_for(self, address: str) -> str:
        return f"http://{address}:{self.port}"

    def client(self) -> Any:
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_for("127.0.0.1"),
            region_name=self.region,
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
            config=Config(s3={"addressing_style": "path"}),
        )

    def create_bucket(self, bucket: str) -> None:
        self.client().create_bucket(Bucket=bucket)

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client().put_object(Bucket=bucket, Key=key, Body=data)

    def get(self, bucket: str, key: str) -> bytes | None:
        try:
            body: bytes = self.client().get_object(Bucket=bucket, Key=key)["Body"].read()
        except Exception as error:
            if "NoSuchKey" in str(error):
                return None
            raise
        return body

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        listing = self.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
        return sorted(item["Key"] for item in listing.get("Contents", []))


class PostgresServer(_OuterService):
    """A throwaway PostgreSQL cluster run as the unprivileged ``os_user`` (initdb refuses
    root). Clients authenticate with SCRAM passwords over TCP from 127.0.0.1 and from
    ``allowed_networks``; ``listen_addresses`` must include an address those clients can
    reach (for guests in a HostNetwork: its outer_address, or "*")."""

    def __init__(
        self,
        log_dir: Path,
        *,
        listen_addresses: Sequence[str] = ("127.0.0.1",),
        allowed_networks: Sequence[str] = (),
        port: int | None = None,
        bin_dir: Path | None = None,
        os_user: str = "postgres",
    ) -> None:
        for network in allowed_networks:
            ipaddress.ip_network(network, strict=False)  # fail early on a typo
        self.log_dir = log_dir
        self.listen_addresses = list(listen_addresses)
        self.allowed_networks = list(allowed_networks)
        self.port = port or free_port()
        self.bin_dir = bin_dir or _postgres_bin_dir()
        self.os_user = os_user
        self.superuser = "postgres"
        self.superuser_password = secrets.token_urlsafe(18)
        self.log_file = log_dir / "postgres.log"
        self._cluster_dir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def data_dir(self) -> Path:
        if self._cluster_dir is None:
            raise RuntimeError("PostgresServer is not started")
        return self._cluster_dir / "data"

    def start(self, timeout_seconds: float = 60) -> Self:
        account = pwd.getpwnam(self.os_user)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # Under /tmp rather than the test's tmp dir: pytest's dirs are root-only (0700) and
        # the server runs as an unprivileged user.
        self._cluster_dir = Path(tempfile.mkdtemp(prefix="boot-postgres-"))
        os.chown(self._cluster_dir, account.pw_uid, account.pw_gid)
        password_file = self._cluster_dir / "superuser-password"
        password_file.write_text(self.superuser_password + "\n")
        os.chown(password_file, account.pw_uid, account.pw_gid)
        as_user: dict[str, Any] = {
            "user": account.pw_uid,
            "group": account.pw_gid,
            "extra_groups": [],
            "env": {"PATH": _GUEST_PATH, "LANG": "C.UTF-8", "HOME": str(self._cluster_dir)},
            "cwd": self._cluster_dir,
        }
        initdb = subprocess.run(
            [
                str(self.bin_dir / "initdb"),
                f"--pgdata={self.data_dir}",
                f"--username={self.superuser}",
                f"--pwfile={password_file}",
                # The socket directory below is private to the server user (and root).
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "--encoding=UTF8",
                "--no-locale",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            check=False,
            **as_user,
        )
        (self.log_dir / "initdb.log").write_text(initdb.stdout + initdb.stderr)
        if initdb.returncode != 0:
            raise RuntimeError(f"initdb failed:\n{initdb.stdout}{initdb.stderr}")
        password_file.unlink()
        socket_dir = self._cluster_dir / "socket"
        socket_dir.mkdir(mode=0o700)
        os.chown(socket_dir, account.pw_uid, account.pw_gid)
        settings = {
            "listen_addresses": ",".join(self.listen_addresses),
            "port": str(self.port),
            "unix_socket_directories": str(socket_dir),
            "password_encryption": "scram-sha-256",
            # Durability is pointless for a throwaway cluster; speed is not.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "log_connections": "on",
            "log_line_prefix": "%m [%p] %q%u@%d from %h ",
        }
        with (self.data_dir / "postgresql.conf").open("a") as conf:
            conf.write("\n# boot test harness\n")
            for key, value in settings.items():
                conf.write(f"{key} = '{value}'\n")
        hba = ["local all all trust", "host all all 127.0.0.1/32 scram-sha-256"]
        hba += [f"host all all {network} scram-sha-256" for network in self.allowed_networks]
        (self.data_dir / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data_dir)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                **as_user,
            )
        try:
            wait_for(self._answers, timeout_seconds, 0.2, f"postgres on port {self.port}")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        # SIGINT is postgres' "fast" shutdown: disconnect clients, checkpoint, exit.
        _stop_process(self._process, signal.SIGINT, 30)
        self._process = None
        if self._cluster_dir is not None:
            _remove_tree(self._cluster_dir)
            self._cluster_dir = None


    def log_files(self) -> list[Path]:
        return sorted(self.log_dir.glob("*.log"))

    def url(self, user: str, password: str, database: str, host: str = "127.0.0.1") -> str:
        """A libpq URL (``postgresql://user:pass@host:port/db``), parts percent-encoded."""
        return (
            f"postgresql://{quote(user, safe='')}:{quote(password, safe='')}"
            f"@{host}:{self.port}/{quote(database, safe='')}"
        )

    @property
    def superuser_url(self) -> str:
        return self.url(self.superuser, self.superuser_password, "postgres")

    def create_database(self, name: str, owner: str, password: str, host: str = "127.0.0.1") -> str:
        """Create (or re-password) login role ``owner`` and a database it owns; return the
        URL a client at ``host``'s side uses (pass a HostNetwork's outer_address for a
        guest in that network)."""
        from psycopg import sql  # imported late, as in _connect

        with self._connect("postgres") as connection:
            exists = connection.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (owner,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            connection.execute(
                sql.SQL(verb + " ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(owner), sql.Literal(password)
                )
            )
            connection.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(name), sql.Identifier(owner))
            )
        return self.url(owner, password, name, host)

    def query(
        self, database: str, statement: str, params: Sequence[Any] | None = None
    ) -> list[tuple[Any, ...]]:
        """Run one SQL statement in ``database`` as the superuser (autocommit); return its
        rows (empty for statements without a result)."""
        with self._connect(database) as connection:
            cursor = connection.execute(statement, params)
            return list(cursor.fetchall()) if cursor.description is not None else []

    def connect(self, database: str) -> psycopg.Connection[tuple[Any, ...]]:
        """A superuser connection to ``database`` (autocommit; open transactions with
        ``connection.transaction()``), for tests that hold locks while the app works."""
        return self._connect(database)

    def _connect(self, database: str) -> psycopg.Connection[tuple[Any, ...]]:
        import psycopg  # imported late: the rest of the harness works without it

        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=self.superuser,
            password=self.superuser_password,
            dbname=database,
            autocommit=True,
            connect_timeout=5,
        )

    def _answers(self) -> bool:
        if self._process is not None and self._process.poll() is not None:
            raise WaitAborted(f"postgres exited:\n{_tail(self.log_file)}")
        with self._connect("postgres") as connection:
            connection.execute("SELECT 1")
        return True


# --------------------------------------------------------------------------- ACME (pebble)


def _openssl(*args: str | os.PathLike[str]) -> None:
    _run(["openssl", *args], env={"PATH": _GUEST_PATH})


class PebbleAcme(_OuterService):
    """Pebble (a test ACME CA) with pebble-challtestsrv as its DNS server.

    Every A query is answered with ``default_ipv4`` (use a HostNetwork's guest_address so
    HTTP-01 validation reaches that guest's port 80), or per name via ``set_dns_a``.
    Pebble's own HTTPS listener uses a throwaway CA: clients (certbot in a guest) must
    trust ``listener_ca_pem``. Pebble's issuing root is new on every start: fetch it
    with ``issuing_roots_pem()`` to verify a served chain.
    """

    def __init__(
        self,
        work_dir: Path,
        *,
        default_ipv4: str = "127.0.0.1",
        listen_host: str = "127.0.0.1",
        acme_port: int = 14000,
        management_port: int = 15000,
        dns_port: int = 8053,
        challtestsrv_management_port: int = 8055,
        http_port: int = 80,
        tls_port: int = 443,
        extra_listener_names: Sequence[str] = (),
        authz_reuse_percent: int = 0,
    ) -> None:
        self.work_dir = work_dir
        self.default_ipv4 = default_ipv4
        self.listen_host = listen_host
        self.acme_port = acme_port
        self.management_port = management_port
        self.dns_port = dns_port
        self.challtestsrv_management_port = challtestsrv_management_port
        self.http_port = http_port
        self.tls_port = tls_port
        self.extra_listener_names = list(extra_listener_names)
        self.authz_reuse_percent = authz_reuse_percent
        self.listener_ca_file = work_dir / "listener-ca.pem"
        self._processes: list[subprocess.Popen[bytes]] = []

    @property
    def _client_host(self) -> str:
        return "127.0.0.1" if self.listen_host in ("0.0.0.0", "") else self.listen_host

    @property
    def directory_url(self) -> str:
        return f"https://{self._client_host}:{self.acme_port}/dir"

    def directory_url_for(self, address: str) -> str:
        """The directory as a client reaching pebble at `address` names it (the address must
        be among the listener certificate's names)."""
        return f"https://{address}:{self.acme_port}/dir"

    def orders(self) -> int:
        """How many orders pebble has taken since it started (it logs the count at each)."""
        counts = re.findall(r"There are now (\d+) orders in the db", (self.work_dir / "pebble.log").read_text(errors="replace"))
        return int(counts[-1]) if counts else 0

    @property
    def listener_ca_pem(self) -> str:
        return self.listener_ca_file.read_text()

    def start(self, timeout_seconds: float = 30) -> Self:
        self.work_dir.mkdir(parents=True, exist_ok=True)
        for port in (self.acme_port, self.management_port, self.challtestsrv_management_port):
            self._require_free(port)
        self._make_listener_certificate()
        config = {
            "pebble": {
                "listenAddress": f"{self.listen_host}:{self.acme_port}",
                "managementListenAddress": f"{self.listen_host}:{self.management_port}",
                "certificate": str(self.work_dir / "listener.pem"),
                "privateKey": str(self.work_dir / "listener.key"),
                "httpPort": self.http_port,
                "tlsPort": self.tls_port,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        }
        config_file = self.work_dir / "pebble-config.json"
        config_file.write_text(json.dumps(config, indent=2))
        base_env = {"PATH": _GUEST_PATH, "HOME": str(self.work_dir)}
        self._spawn(
            "challtestsrv",
            [
                "pebble-challtestsrv",
                "-defaultIPv4",
                self.default_ipv4,
                "-defaultIPv6",
                "",
                "-dns01",
                f"127.0.0.1:{self.dns_port}",
                "-http01",
                "",
                "-https01",
                "",
                "-tlsalpn01",
                "",
                "-management",
                f"127.0.0.1:{self.challtestsrv_management_port}",
            ],
            base_env,
        )
        pebble_env = {
            **base_env,
            # Validate at once instead of sleeping up to 15 s per challenge.
            "PEBBLE_VA_NOSLEEP": "1",
            # Pebble rejects 5 % of valid nonces by default to exercise client retries;
            # a test about the host, not the client, wants no random failures.
            "PEBBLE_WFE_NONCEREJECT": "0",
            # Default is a 50 % coin toss; 0 makes every issuance run its HTTP-01
            # validation against the host, which is what the tests want to see.
            "PEBBLE_AUTHZREUSE": str(self.authz_reuse_percent),
        }
        self._spawn(
            "pebble",
            ["pebble", "-config", str(config_file), "-dnsserver", f"127.0.0.1:{self.dns_port}"],
            pebble_env,
        )
        try:
            wait_for(self._directory_answers, timeout_seconds, 0.2, "pebble's ACME directory")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in reversed(self._processes):
            _stop_process(process, signal.SIGTERM, 10)
        self._processes.clear()


    def log_files(self) -> list[Path]:
        return sorted(self.work_dir.glob("*.log"))

    def directory(self) -> dict[str, Any]:
        """The ACME directory, fetched over TLS verified with the listener CA."""
        document: dict[str, Any] = json.loads(self._get(self.directory_url))
        return document

    def issuing_roots_pem(self) -> str:
        """The root that signs this run's certificates (new on every start)."""
        return self._get(self._management_url("/roots/0"))

    def issuing_intermediates_pem(self) -> str:
        return self._get(self._management_url("/intermediates/0"))

    def set_dns_a(self, host: str, addresses: Sequence[str]) -> None:
        """Answer A queries for ``host`` with ``addresses`` instead of default_ipv4."""
        self._challtestsrv("/add-a", {"host": host, "addresses": list(addresses)})

    def clear_dns_a(self, host: str) -> None:
        self._challtestsrv("/clear-a", {"host": host})

    # -- internals

    def _management_url(self, path: str) -> str:
        return f"https://{self._client_host}:{self.management_port}{path}"

    def _get(self, url: str) -> str:
        context = ssl.create_default_context(cafile=str(self.listener_ca_file))
        with urllib.request.urlopen(url, context=context, timeout=10) as response:
            body: bytes = response.read()
            return body.decode()

    def _challtestsrv(self, path: str, payload: Mapping[str, Any]) -> None:
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.challtestsrv_management_port}{path}",
            data=json.dumps(payload).encode(),
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()

    def _directory_answers(self) -> bool:
        for process in self._processes:
            if process.poll() is not None:
                logs = "\n".join(_tail(path) for path in self.work_dir.glob("*.log"))
                raise WaitAborted(f"{process.args!r} exited:\n{logs}")
        return "newAccount" in self.directory()

    def _spawn(self, label: str, argv: list[str], env: dict[str, str]) -> None:
        with (self.work_dir / f"{label}.log").open("ab") as log:
            self._processes.append(
                subprocess.Popen(
                    argv,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=self.work_dir,
                    start_new_session=True,
                )
            )

    def _require_free(self, port: int) -> None:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((self._client_host, port))
            except OSError as error:
                if error.errno == errno.EADDRINUSE:
                    raise RuntimeError(
                        f"port {port} is taken (another pebble running?); pass other ports"
                    ) from error
                raise

    def _make_listener_certificate(self) -> None:
        """A throwaway CA and a server certificate for the listener's names."""
        d = self.work_dir
        names = ["127.0.0.1", "localhost", self._client_host, *self.extra_listener_names]
        alt_names = []
        for name in dict.fromkeys(names):
            try:
                ipaddress.ip_address(name)
                alt_names.append(f"IP:{name}")
            except ValueError:
                alt_names.append(f"DNS:{name}")
        _openssl(
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "30",
            "-subj",
            "/CN=boot harness pebble listener CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-keyout",
            d / "listener-ca.key",
            "-out",
            self.listener_ca_file,
        )
        _openssl(
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=pebble listener",
            "-keyout",
            d / "listener.key",
            "-out",
            d / "listener.csr",
        )
        (d / "listener.ext").write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature\n"
            "extendedKeyUsage=serverAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid\n"
            f"subjectAltName={','.join(alt_names)}\n"
        )
        _openssl(
            "x509",
            "-req",
            "-in",
            d / "listener.csr",
            "-CA",
            self.listener_ca_file,
            "-CAkey",
            d / "listener-ca.key",
            "-CAcreateserial",
            "-days",
            "30",
            "-extfile",
            d / "listener.ext",
            "-out",
            d / "listener.pem",
        )


# --------------------------------------------------------------------------- package index


def _pip_environment() -> dict[str, str]:
    """Environment for the outer pip that ignores this machine's pip configuration (an
    extra local index, find-links and a constraints file) but keeps its CA bundle, which
    the TLS-intercepting proxy needs."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    for kept in ("PIP_CERT", "PIP_DEFAULT_TIMEOUT"):
        if kept in os.environ:
            env[kept] = os.environ[kept]
    return env


def _manylinux_platforms(machine: str, glibc_minor_max: int = 36) -> list[str]:
    """Platform tags a Debian 12 guest (glibc 2.36) accepts, newest first."""
    tags = [f"manylinux_2_{minor}_{machine}" for minor in range(glibc_minor_max, 16, -1)]
    tags.append(f"manylinux2014_{machine}")
    if machine in ("x86_64", "i686"):
        tags += [
            f"manylinux_2_12_{machine}",
            f"manylinux2010_{machine}",
            f"manylinux_2_5_{machine}",
            f"manylinux1_{machine}",
        ]
    return tags


def _normalize_project(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _wheel_requires_python(wheel: Path) -> str | None:
    with zipfile.ZipFile(wheel) as archive:
        for member in archive.namelist():
            if member.endswith(".dist-info/METADATA") and member.count("/") == 1:
                headers = HeaderParser().parsestr(archive.read(member).decode("utf-8", "replace"))
                value = headers.get("Requires-Python")
                return str(value) if value else None
    return None


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    log_file: Path | None = None
    _log_lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        if self.log_file is None:
            return
        line = f"{self.address_string()} - {format % args}\n"
        with self._log_lock, self.log_file.open("a") as log:
            log.write(line)


class PackageIndex(_OuterService):
    """A PEP 503 "simple" index of wheels for a guest's pip, served over plain HTTP from
    the outer machine (guests do not trust the outer TLS proxy, and a namespaced guest
    cannot reach PyPI at all). Files are downloaded for the guest's Python (Debian 12:
    CPython 3.11, glibc 2.36), not for the outer interpreter."""

    def __init__(
        self,
        root_dir: Path,
        *,
        bind_addresses: Sequence[str] = ("127.0.0.1",),
        port: int | None = None,
        python_version: str = "3.11",
        machine: str | None = None,
    ) -> None:
        if not bind_addresses:
            raise ValueError("PackageIndex needs at least one bind address")
        self.root_dir = root_dir
        self.files_dir = root_dir / "files"
        self.simple_dir = root_dir / "simple"
        self.bind_addresses = list(bind_addresses)
        self.port = port
        self.python_version = python_version
        self.machine = machine or platform.machine()
        self.log_file = root_dir.parent / f"{root_dir.name}-access.log"
        self._servers: list[http.server.ThreadingHTTPServer] = []

    @property
    def url(self) -> str:
        """Index URL on the first bind address, e.g. http://127.0.0.1:PORT/simple/."""
        return self.url_for(self.bind_addresses[0])

    def url_for(self, address: str) -> str:
        if self.port is None:
            raise RuntimeError("PackageIndex is not started")
        return f"http://{address}:{self.port}/simple/"

    def pip_options_for(self, address: str) -> list[str]:
        """pip options that use this index from a client reaching it at ``address``. pip
        ignores plain-HTTP indexes on any host but localhost unless told to trust it."""
        return ["--index-url", self.url_for(address), "--trusted-host", address]

    def start(self) -> Self:
        self.files_dir.mkdir(parents=True, exist_ok=True)
        self.write_index()
        handler = type(
            "IndexHandler",
            (_QuietHandler,),
            {"log_file": self.log_file},
        )
        for attempt in range(20):
            port = self.port or free_port(self.bind_addresses[0])
            try:
                for address in self.bind_addresses:
                    server = http.server.ThreadingHTTPServer(
                        (address, port),
                        lambda *args, h=handler: h(*args, directory=str(self.root_dir)),
                    )
                    server.daemon_threads = True
                    self._servers.append(server)
            except OSError as error:
                self._shutdown_servers()
                if error.errno != errno.EADDRINUSE or self.port is not None or attempt == 19:
                    raise
                continue
            self.port = port
            break
        for server in self._servers:
            threading.Thread(target=server.serve_forever, name="package-index", daemon=True).start()
        return self

    def stop(self) -> None:
        self._shutdown_servers()


    def add_wheels_for(
        self, requirements: Sequence[str], local_projects: Sequence[Path] = (), *, index_local_projects: bool = True
    ) -> list[Path]:
        """Build ``local_projects`` into wheels, download wheels for ``requirements`` and
        for the local wheels' dependencies, and re-index. With ``index_local_projects``
        false, only the projects' dependencies are served, not the projects themselves (a
        host must get those elsewhere). Returns the new files."""
        before = set(self.files_dir.glob("*.whl"))
        env = _pip_environment()
        with tempfile.TemporaryDirectory(prefix="boot-wheels-") as scratch:
            local_wheels: list[Path] = []
            for project in local_projects:
                out = Path(scratch) / _normalize_project(project.name)
                _run(
                    [sys.executable, "-m", "build", "--wheel", "--outdir", out, project],
                    env=env,
                    timeout=900,
                )
                local_wheels += sorted(out.glob("*.whl"))
            wanted = [*requirements, *(str(wheel) for wheel in local_wheels)]
            if wanted:
                platforms: list[str] = []
                for tag in _manylinux_platforms(self.machine):
                    platforms += ["--platform", tag]
                _run(
                    [
                        sys.executable,
                        "-m",
                        "pip",
                        "download",
                        "--only-binary=:all:",
                        "--python-version",
                        self.python_version,
                        "--implementation",
                        "cp",
                        "--abi",
                        "cp" + self.python_version.replace(".", ""),
                        *platforms,
                        "--dest",
                        self.files_dir,
                        *wanted,
                    ],
                    env=env,
                    timeout=1800,
                )
            if not index_local_projects:
                for wheel in local_wheels:
                    (self.files_dir / wheel.name).unlink(missing_ok=True)
        self.write_index()
        return sorted(set(self.files_dir.glob("*.whl")) - before)

    def write_index(self) -> None:
        """(Re)write /simple/ and /simple/<project>/ pages for the wheels in files/."""
        projects: dict[str, list[Path]] = {}
        for wheel in sorted(self.files_dir.glob("*.whl")):
            projects.setdefault(_normalize_project(wheel.name.split("-")[0]), []).append(wheel)
        self.simple_dir.mkdir(parents=True, exist_ok=True)
        for project, wheels in projects.items():
            links = []
            for wheel in wheels:
                digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
                requires = _wheel_requires_python(wheel)
                attribute = f' data-requires-python="{html.escape(requires)}"' if requires else ""
                links.append(
                    f'<a href="../../files/{html.escape(wheel.name)}#sha256={digest}"'
                    f"{attribute}>{html.escape(wheel.name)}</a><br>"
                )
            page = self.simple_dir / project
            page.mkdir(exist_ok=True)
            _write_html(page / "index.html", f"Links for {project}", links)
        root_links = [f'<a href="{p}/">{p}</a><br>' for p in sorted(projects)]
        _write_html(self.simple_dir / "index.html", "Simple index", root_links)

    def _shutdown_servers(self) -> None:
        for server in self._servers:
            server.shutdown()
            server.server_close()
        self._servers.clear()


def _write_html(path: Path, title: str, lines: Sequence[str]) -> None:
    body = "\n".join(lines)
    text = (
        f'<!DOCTYPE html>\n<html><head><meta name="pypi:repository-version" content="1.0">'
        f"<title>{html.escape(title)}</title></head><body>\n{body}\n</body></html>\n"
    )
    # Write then rename, so a guest's pip never reads half a page.
    partial = path.with_suffix(".tmp")
    partial.write_text(text)
    os.replace(partial, path)
