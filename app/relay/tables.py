"""The consumers' own tables: where each consumer is in the log, and the events it parked."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, Text, func, text
from sqlalchemy.dialects.postgresql import UUID
from sqlmodel import Field, SQLModel


class CheckpointRow(SQLModel, table=True):
    """One consumer (view, action, webhook dispatcher): its position in the log and health.

    ``generation`` changes when a view's table is swapped for a rebuilt one, so a projector
    holding rows in memory knows they are not the table's any more.
    """

    __tablename__ = "checkpoints"

    name: str = Field(sa_column=Column(Text, primary_key=True))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    position: int = Field(sa_column=Column(BigInteger, nullable=False, server_default="0"))
    generation: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    paused: bool = Field(sa_column=Column(Boolean, nullable=False, server_default=text("false")))
    leader: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    failing_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    failing_since: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    attempts: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    rebuild_state: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rebuild_position: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    rebuild_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    rebuild_started_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    rebuilt_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class ParkedEventRow(SQLModel, table=True):
    """An event an operator told a consumer to skip, with the error it failed on."""

    __tablename__ = "parked_events"

    consumer: str = Field(sa_column=Column(Text, primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    parked_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
