"""Per-process resources, built once in the app's lifespan and shared by all requests."""

from collections.abc import Iterator
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from notes_api.settings import Settings
from notes_api.storage import ObjectStorage


@dataclass(frozen=True)
class AppState:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    object_storage: ObjectStorage | None


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.resources
    return state


def database_session(request: Request) -> Iterator[Session]:
    with app_state(request).sessions() as session:
        yield session
