"""Readiness: can this process serve traffic with the schema and storage it was built for?"""

import logging
from dataclasses import dataclass, field

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import SQLAlchemyError

from notes_api.db import describe_database_error
from notes_api.migrate import known_revisions, script_heads
from notes_api.state import AppState

log = logging.getLogger("notes_api.readiness")


@dataclass
class Readiness:
    checks: dict[str, str] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)

    @property
    def ready(self) -> bool:
        return not self.failures


def schema_revisions(connection: Connection) -> frozenset[str]:
    # Read directly: Alembic's MigrationContext logs two INFO lines per call, once per probe.
    if not inspect(connection).has_table("alembic_version"):
        return frozenset()
    return frozenset(connection.scalars(text("SELECT version_num FROM alembic_version")))


def schema_is_ahead(current: frozenset[str]) -> bool:
    """The database is at a revision this code does not ship: a later release's."""
    return bool(current) and not current <= known_revisions()


def check_readiness(state: AppState) -> Readiness:
    # Every check runs even after a failure, so one probe names all that is wrong.
    readiness = Readiness()
    try:
        with state.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            current = schema_revisions(connection)
    except SQLAlchemyError as exc:
        readiness.checks["database"] = "unreachable"
        readiness.failures.append(
            f"database unreachable: {describe_database_error(exc, state.settings)}"
        )
    else:
        readiness.checks["database"] = "ok"
        readiness.checks["schema"] = ", ".join(sorted(current)) or "none"
        expected = script_heads()
        if current != expected and not schema_is_ahead(current):
            # New code against an old schema breaks requests in ways a 503 avoids.
            readiness.failures.append(
                f"database schema is at revision {readiness.checks['schema']}, expected"
                f" {', '.join(sorted(expected))}; run notes-api-migrate"
            )
        elif current != expected:
            # A newer release migrated first and this one still serves (a release rolling
            # through the fleet, or a rollback): its migrations only expand the schema, so
            # this code still works (the expand/contract rule, README).
            readiness.checks["schema"] += " (ahead of this release)"

    if state.object_storage is None:
        readiness.checks["object_storage"] = "not configured"
    else:
        problem = state.object_storage.bucket_problem()
        readiness.checks["object_storage"] = "ok" if problem is None else "unavailable"
        if problem is not None:
            readiness.failures.append(problem)

    if readiness.failures:
        log.warning("not ready: %s", "; ".join(readiness.failures))
    return readiness
