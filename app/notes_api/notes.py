"""The notes resource: the sample's one piece of business logic."""

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from notes_api.models import NOTE_TEXT_MAX_LENGTH, Note
from notes_api.state import database_session

router = APIRouter(prefix="/notes", tags=["notes"])

DatabaseSession = Annotated[Session, Depends(database_session)]


class NoteDraft(BaseModel):
    text: str = Field(min_length=1, max_length=NOTE_TEXT_MAX_LENGTH)


class NoteView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    text: str
    created_at: datetime


@router.post("", status_code=status.HTTP_201_CREATED)
def create_note(draft: NoteDraft, session: DatabaseSession) -> NoteView:
    note = Note(text=draft.text)
    session.add(note)
    # created_at comes back through INSERT ... RETURNING, so no extra SELECT is needed.
    session.commit()
    return NoteView.model_validate(note)


@router.get("")
def list_notes(
    session: DatabaseSession, limit: Annotated[int, Query(ge=1, le=200)] = 50
) -> list[NoteView]:
    newest_first = select(Note).order_by(Note.created_at.desc(), Note.id.desc()).limit(limit)
    return [NoteView.model_validate(note) for note in session.scalars(newest_first)]
