"""Engine construction: one engine (and so one small pool) per worker process."""

from sqlalchemy import Engine, create_engine
from sqlalchemy.engine import make_url

from notes_api.settings import Settings

# Short enough that /readyz answers before a load balancer's probe gives up.
CONNECT_TIMEOUT_SECONDS = 2


def create_database_engine(settings: Settings) -> Engine:
    return create_engine(
        settings.sqlalchemy_url,
        # Connections die across database restarts and failovers; test before use.
        pool_pre_ping=True,
        # Each worker has its own pool: keep it small so workers x pool fits max_connections.
        pool_size=2,
        max_overflow=3,
        # Fail a request rather than queue it for the default 30 s when the pool is exhausted.
        pool_timeout=5,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )


def describe_database_error(exc: BaseException, settings: Settings) -> str:
    """First line of the driver's message, safe to return to a caller or write to a log."""
    cause = getattr(exc, "orig", None) or exc
    lines = str(cause).strip().splitlines()
    message = lines[0].strip() if lines else type(cause).__name__
    # libpq messages do not contain the password, but never rely on that.
    password = make_url(settings.sqlalchemy_url).password
    if password:
        message = message.replace(password, "***")
    return message
