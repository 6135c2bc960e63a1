"""Alembic environment, used without an alembic.ini (see notes_api.migrate)."""

from alembic import context
from sqlalchemy import Connection

from notes_api.models import Base


def run_migrations(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=Base.metadata)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run notes-api-migrate")

handed_over = context.config.attributes.get("connection")
if handed_over is not None:
    # notes-api-migrate passes its connection so the advisory lock it holds covers the upgrade.
    run_migrations(handed_over)
else:
    # Direct `alembic` use, e.g. autogenerating a revision: connect the way the app does.
    from notes_api.db import create_database_engine
    from notes_api.settings import load_settings

    engine = create_database_engine(load_settings())
    try:
        with engine.begin() as connection:
            run_migrations(connection)
    finally:
        engine.dispose()
