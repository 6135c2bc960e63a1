"""The hosts' journals leave them, with Debian's own tools: systemd-journal-upload from the app
host's rendered settings sends a journal to systemd-journal-remote run from the collector's
rendered settings, over HTTPS; the host checks the collector's certificate against the CA.

Paths and the port are moved into the test's directory and onto loopback; every other value is
read from the rendered files (the upload settings, the service drop-in's command line, the
collector's [Remote] section)."""

from __future__ import annotations

import configparser
import shlex
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from fastapi_deploy.cloud_init.collector import collector_files
from fastapi_deploy.cloud_init.render import JOURNAL_DIR, host_files
from fastapi_deploy.stack_model.host_spec import JournalUploadSpec, LogCollectorSpec
from tests.boot.harness import free_port, wait_for
from tests.host_specs import acme_spec
from tests.journal_pki import JournalPki, journal_pki

REMOTE = "/lib/systemd/systemd-journal-remote"
UPLOAD = "/lib/systemd/systemd-journal-upload"


def section(text: str, name: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(text)
    return dict(parser[name])


class Collector:
    """journal-remote as the collector runs it: its [Remote] settings as flags."""

    def __init__(self, workdir: Path, pki: JournalPki) -> None:
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
        self.port = free_port()
        self.log = workdir / "remote.log"
        self._process = subprocess.Popen(
            [REMOTE, f"--listen-https=127.0.0.1:{self.port}", f"--output={self.output}/",
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


pytestmark = pytest.mark.skipif(
    not (Path(REMOTE).exists() and Path(UPLOAD).exists()), reason="needs systemd-journal-remote (.ci/run installs it)"
)
BOOT_ID = "0123456789abcdef0123456789abcdef"


def _journal(path: Path, hostname: str, messages: list[str]) -> Path:
    """A journal file holding `messages` from `hostname`, made by journal-remote itself from
    the journal's export format."""
    export = "".join(
        f"__REALTIME_TIMESTAMP={1795662600000000 + n}\n_HOSTNAME={hostname}\n_BOOT_ID={BOOT_ID}\n"
        f"SYSLOG_IDENTIFIER=api\nMESSAGE={message}\n\n"
        for n, message in enumerate(messages)
    )
    subprocess.run([REMOTE, f"--output={path}", "-"], input=export.encode(), check=True, capture_output=True, timeout=30)
    return path


@pytest.fixture
def pki() -> JournalPki:
    return journal_pki("127.0.0.1")


@pytest.fixture
def collector(tmp_path: Path, pki: JournalPki) -> Iterator[Collector]:
    (tmp_path / "collector").mkdir()
    server = Collector(tmp_path / "collector", pki)
    yield server
    server.stop()


def _upload(workdir: Path, collector: Collector, client: JournalPki, journal: Path) -> subprocess.CompletedProcess[str]:
    """journal-upload as the host's service runs it: its settings and the drop-in's command."""
    workdir.mkdir(exist_ok=True)
    spec = acme_spec(
        journal_upload=JournalUploadSpec(
            url="https://10.20.0.250:19532",
            ca_pem=client.ca_pem,
            client_cert_pem=client.client_cert_pem,
            client_key_pem=SecretStr(client.client_key_pem),
        )
    )
    files = {item.path: item for item in host_files(spec)}
    upload = section(files["/etc/systemd/journal-upload.conf.d/10-app-host.conf"].content, "Upload")
    drop_in = section(files["/etc/systemd/system/systemd-journal-upload.service.d/10-app-host.conf"].content, "Service")
    assert files[f"{JOURNAL_DIR}/client.key"].mode == "0600" and files[f"{JOURNAL_DIR}/client.key"].secret
    for name in ("ca.pem", "client.pem", "client.key"):
        (workdir / name).write_text(files[f"{JOURNAL_DIR}/{name}"].content)
    credentials = workdir
    command = shlex.split(drop_in["ExecStart"].strip().splitlines()[-1].replace("${CREDENTIALS_DIRECTORY}", str(credentials)))
    assert command[0] == UPLOAD and drop_in["LoadCredential"] == f"client.key:{JOURNAL_DIR}/client.key"
    argv = [
        *command,
        f"--url=https://127.0.0.1:{collector.port}",
        f"--cert={workdir / Path(upload['ServerCertificateFile']).name}",
        f"--trust={workdir / Path(upload['TrustedCertificateFile']).name}",
        f"--file={journal}",
        # The service follows the system journal; a file is read to its end.
        "--follow=no",
        f"--save-state={workdir / 'state'}",
    ]
    assert upload["URL"] == "https://10.20.0.250:19532"
    return subprocess.run(argv, capture_output=True, text=True, timeout=60)


def test_a_hosts_journal_arrives_in_its_own_file_on_the_collector(
    tmp_path: Path, collector: Collector, pki: JournalPki
) -> None:
    messages = ["app started", "GET /healthz 200", "worker booted"]
    journal = _journal(tmp_path / "web-1.journal", "web-1", messages)
    result = _upload(tmp_path / "host", collector, pki, journal)
    assert result.returncode == 0, result.stderr
    wait_for(lambda: messages in collector.messages().values(), 10, interval=0.2, what="the journal at the collector")
    arrived = collector.messages()
    # One journal per sending host (SplitMode=host), named after its address: without
    # client-certificate checks, Debian 12's journal-remote names a source by its peer.
    assert list(arrived.values()) == [messages] and "127.0.0.1" in next(iter(arrived)), (arrived, collector.log.read_text())
    # The host saves where it got to: a second run (a restart of the service) starts at the
    # saved cursor, so only the entry there arrives a second time (systemd 252's behaviour).
    again = _upload(tmp_path / "host", collector, pki, journal)
    assert again.returncode == 0 and list(collector.messages().values()) == [messages + messages[-1:]]


def test_a_host_refuses_a_collector_whose_certificate_is_not_from_the_ca(tmp_path: Path, pki: JournalPki) -> None:
    impostor = Collector(tmp_path / "impostor", journal_pki("127.0.0.1", ca_name="another CA"))
    try:
        journal = _journal(tmp_path / "web-1.journal", "web-1", ["should not leave"])
        result = _upload(tmp_path / "host", impostor, pki, journal)
        assert result.returncode != 0 and "certificate" in result.stderr.lower(), result.stderr
        assert all(not found for found in impostor.messages().values())
    finally:
        impostor.stop()
