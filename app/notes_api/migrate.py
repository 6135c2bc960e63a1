"""`notes-api-migrate`: bring the database schema to the newest revision shipped in this wheel.

The Alembic configuration is built in code so that nothing but the installed package and
DATABASE_URL is needed on a host.
"""

import functools
import logging
import sys
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from notes_api.db import create_database_engine, describe_database_error
from notes_api.log import configure_logging
from notes_api.settings import SettingsError, load_settings

MIGRATIONS_DIRECTORY = Path(__file__).resolve().parent / "migrations"

# Arbitrary constant shared by every host: concurrent deploys take turns instead of racing.
MIGRATION_LOCK_KEY = 0x6E6F746573  # "notes"

log = logging.getLogger("notes_api.migrate")


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIRECTORY))
    return config


@functools.cache
def script_heads() -> frozenset[str]:
    """Revisions the installed code expects; read from disk once per process."""
    return frozenset(ScriptDirectory.from_config(alembic_config()).get_heads())


@functools.cache
def known_revisions() -> frozenset[str]:
    """Every revision this code ships, heads and their ancestors."""
    scripts = ScriptDirectory.from_config(alembic_config())
    return frozenset(script.revision for script in scripts.walk_revisions())


def upgrade_to_head(engine: Engine) -> bool:
    """Apply what this code ships; False when the schema is ahead of it (nothing applied)."""
    config = alembic_config()
    # One transaction for lock and migrations (PostgreSQL DDL is transactional): a second
    # host waits here, then finds the schema already at head and applies nothing.
    with engine.begin() as connection:
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK_KEY})
        current: frozenset[str] = frozenset()
        if inspect(connection).has_table("alembic_version"):
            current = frozenset(connection.scalars(text("SELECT version_num FROM alembic_version")))
        if current and not current <= known_revisions():
            # A later release migrated (a rollback, or a release still rolling out): its
            # migrations only expanded the schema, so this code runs on it as it is.
            log.info(
                "database schema is at %s, ahead of this release (%s); nothing to apply",
                ", ".join(sorted(current)),
                ", ".join(sorted(script_heads())),
            )
            return False
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return True


def main() -> int:
    configure_logging()
    try:
        settings = load_settings()
    except SettingsError as exc:
        log.error("%s", exc)
        return 2
    engine = create_database_engine(settings)
    try:
        applied = upgrade_to_head(engine)
    except SQLAlchemyError as exc:
        log.error("migration failed: %s", describe_database_error(exc, settings))
        return 1
    finally:
        engine.dispose()
    if applied:
        log.info("database schema is at head %s", ", ".join(sorted(script_heads())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
