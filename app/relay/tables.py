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
    # A consumer of another service's public stream: "service/stream", and what it last
    # learned of it. Its position is then the producer's seq.
    upstream: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    upstream_head: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    # A partition of a Kafka topic: the producer's seq of the last event applied (a message
    # its publisher sent again, with a seq not above it, is passed over).
    upstream_seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    upstream_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    upstream_failing_since: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    upstream_caught_up_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    # Registered to start "now" before the producer could be asked where now is.
    waiting_for_head: bool = Field(
        sa_column=Column(Boolean, nullable=False, server_default=text("false"))
    )


class ParkedEventRow(SQLModel, table=True):
    """An event an operator told a consumer to skip, with the error it failed on."""

    __tablename__ = "parked_events"

    consumer: str = Field(sa_column=Column(Text, primary_key=True))
    seq: int = Field(sa_column=Column(BigInteger, primary_key=True))
    # The event's id; unknown for an upstream event that could not be read at all.
    event_id: uuid.UUID | None = Field(
        default=None, sa_column=Column(UUID(as_uuid=True), nullable=True)
    )
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    parked_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
