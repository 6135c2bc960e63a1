"""The journal collector as the stack's collector host runs it (systemd-journal-remote with the
[Remote] settings `cloud_init.collector` renders), as a process on this machine: for tests of
the hosts' upload, rendered and booted."""

from __future__ import annotations

import configparser
import subprocess
import time
from pathlib import Path

from pydantic import SecretStr

from fastapi_deploy.cloud_init.collector import collector_files
from fastapi_deploy.cloud_init.render import JOURNAL_DIR
from fastapi_deploy.stack_model.host_spec import LogCollectorSpec
from tests.boot.harness import free_port
from tests.journal_pki import JournalPki

__all__ = ["REMOTE", "UPLOAD", "Collector", "section"]

REMOTE = "/lib/systemd/systemd-journal-remote"
UPLOAD = "/lib/systemd/systemd-journal-upload"


def section(text: str, name: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return dict(parser[name])


class Collector:
    """journal-remote as the collector runs it: its [Remote] settings as flags."""

    def __init__(self, workdir: Path, pki: JournalPki, address: str = "127.0.0.1") -> None:
        workdir.mkdir(exist_ok=True)
        spec = LogCollectorSpec(server_cert_pem=pki.server_cert_pem, server_key_pem=SecretStr(pki.server_key_pem))
        files = {item.path: item for item in collector_files(spec)}
        remote = section(files["/etc/systemd/journal-remote.conf.d/10-app-host.conf"].content, "Remote")
        for item in files.values():
            if item.path.startswith(JOURNAL_DIR):
                (workdir / Path(item.path).name).write_text(item.content)
                (workdir / Path(item.path).name).chmod(int(item.mode, 8))
        moved = {key: str(workdir / Path(value).name) for key, value in remote.items() if value.startswith(JOURNAL_DIR)}
        self.output = workdir / "remote"
        self.output.mkdir()
        self.port = free_port(address)
        self.log = workdir / "remote.log"
        self._process = subprocess.Popen(
            [REMOTE, f"--listen-https={address}:{self.port}", f"--output={self.output}/",
             f"--split-mode={remote['SplitMode']}", f"--key={moved['ServerKeyFile']}",
             f"--cert={moved['ServerCertificateFile']}"],
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("wb"),
        )  # fmt: skip
        time.sleep(0.5)
        assert self._process.poll() is None, self.log.read_text()

    def messages(self) -> dict[str, list[str]]:
        """{journal file name: messages in it}."""
        found: dict[str, list[str]] = {}
        for journal in sorted(self.output.glob("*.journal")):
            out = subprocess.run(
                ["journalctl", f"--file={journal}", "-o", "cat"], capture_output=True, text=True, timeout=30
            )
            found[journal.name] = out.stdout.splitlines()
        return found

    def stop(self) -> None:
        self._process.terminate()
        self._process.wait(timeout=20)
