"""Database tables. Schema changes go through an Alembic migration, never create_all."""

from datetime import datetime

from sqlalchemy import BigInteger, DateTime, Identity, String, func
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NOTE_TEXT_MAX_LENGTH = 2000


class Base(DeclarativeBase):
    pass


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    text: Mapped[str] = mapped_column(String(NOTE_TEXT_MAX_LENGTH))
    # Set by the database so every app host agrees on "newest" regardless of its clock.
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
