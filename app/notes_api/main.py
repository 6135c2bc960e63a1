"""ASGI entry point: `notes_api.main:app`."""

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.orm import sessionmaker

from notes_api import __version__
from notes_api.db import create_database_engine
from notes_api.errors import start_error_reporting
from notes_api.log import configure_logging
from notes_api.notes import router as notes_router
from notes_api.readiness import check_readiness
from notes_api.settings import SettingsError, load_settings
from notes_api.state import AppState, app_state
from notes_api.storage import ObjectStorage

log = logging.getLogger("notes_api")


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    configure_logging()
    try:
        settings = load_settings()
    except SettingsError as exc:
        # Say what to fix in one line before the server prints its own traceback and exits.
        log.error("cannot start: %s", exc)
        raise
    # create_engine does not connect: a database that is down makes /readyz fail, not startup.
    engine = create_database_engine(settings)
    app.state.resources = AppState(
        settings=settings,
        engine=engine,
        sessions=sessionmaker(engine, expire_on_commit=False),
        object_storage=ObjectStorage(settings) if settings.object_storage_configured else None,
    )
    log.info(
        "notes-api %s started; object storage %s",
        __version__,
        "configured" if settings.object_storage_configured else "not configured",
    )
    try:
        yield
    finally:
        engine.dispose()


def create_app() -> FastAPI:
    # Before the app exists, so the SDK's FastAPI integration sees it being built.
    start_error_reporting()
    app = FastAPI(title="notes-api", version=__version__, lifespan=lifespan)
    app.include_router(notes_router)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        # Liveness only: touching dependencies here would get healthy workers restarted
        # whenever the database blips.
        return {"status": "ok"}

    @app.get("/version")
    async def version() -> dict[str, str]:
        # Which code answers: the package's version and the release the host installed it
        # as (APP_RELEASE, set per release by the host tooling).
        return {"version": __version__, "release": os.environ.get("APP_RELEASE", "")}

    @app.get("/readyz")
    def readyz(request: Request) -> JSONResponse:
        readiness = check_readiness(app_state(request))
        if readiness.ready:
            return JSONResponse({"status": "ready", "checks": readiness.checks})
        return JSONResponse(
            {
                "status": "not ready",
                "reason": "; ".join(readiness.failures),
                "checks": readiness.checks,
            },
            status_code=503,
        )

    @app.get("/client")
    async def client(request: Request) -> dict[str, Any]:
        # Shows what the app believes about the caller, proving that the reverse proxy's
        # X-Forwarded-For / X-Forwarded-Proto are trusted (server's proxy-headers setting).
        return {
            "client_host": request.client.host if request.client else None,
            "scheme": request.url.scheme,
        }

    return app


app = create_app()
