"""Plain stderr logging: the host's service manager (journald) adds timestamps and metadata."""

import logging
import sys

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"


def configure_logging() -> None:
    # No-op when the server (or a test runner) has already given the root logger a handler.
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format=LOG_FORMAT)
