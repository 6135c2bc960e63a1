"""The gunicorn worker of app hosts: uvicorn's worker, but one that stops accepting
connections the moment it is told to stop.

uvicorn notices a stop request on its next 0.1 s tick and keeps accepting until then; a
connection it takes in that window is closed before its request is read, and Nginx answers
502 (it retries only connections it had kept alive, not fresh ones). On a HUP reload every
old worker stops at once, so under load that window costs requests. Installed on the host
beside the other tooling and loaded through gunicorn's `pythonpath`.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from types import FrameType
from typing import Any, ClassVar

from gunicorn.arbiter import Arbiter
from uvicorn.server import Server
from uvicorn_worker import UvicornWorker

from .config import WORKER_MARKERS_ENV

__all__ = ["AppHostWorker"]


class _PromptlyStoppingServer(Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        # A signal handler must not touch the loop directly; this runs on its next turn.
        loop.call_soon_threadsafe(self._stop_accepting)

    def _stop_accepting(self) -> None:
        # uvicorn's own shutdown closes these again later; closing twice is harmless.
        for server in getattr(self, "servers", []):
            server.close()


class AppHostWorker(UvicornWorker):
    # uvloop and httptools, named rather than "auto": auto falls back to asyncio and h11 in
    # silence, at about half the requests per second (both are in SERVER_REQUIREMENTS).
    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {**UvicornWorker.CONFIG_KWARGS, "loop": "uvloop", "http": "httptools"}

    def run(self) -> None:
        # gunicorn calls run() once the app is imported: tell the release tooling, which
        # switches to a new slot only when all its workers are this far.
        markers = os.environ.get(WORKER_MARKERS_ENV)
        if markers:
            try:
                (Path(markers) / str(os.getpid())).touch()
            except OSError as error:
                self.log.warning("could not leave the ready marker in %s: %s", markers, error)
        super().run()

    # Mirrors UvicornWorker._serve of uvicorn-worker 0.4 (pinned in SERVER_REQUIREMENTS),
    # with the server class swapped.
    async def _serve(self) -> None:
        self.config.app = self.wsgi
        server = _PromptlyStoppingServer(config=self.config)
        self._install_sigquit_handler()
        await server.serve(sockets=self.sockets)
        if not server.started:
            sys.exit(Arbiter.WORKER_BOOT_ERROR)
