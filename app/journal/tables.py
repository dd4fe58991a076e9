"""The write side's tables. The hot paths use raw SQL (app/journal/sql.py) over these."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Identity,
    Index,
    Integer,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field, SQLModel


class EventRow(SQLModel, table=True):
    """One event of one entity. ``seq`` is given later by the relay, in commit order."""

    __tablename__ = "events"
    __table_args__ = (
        # The optimistic-concurrency guard: two writers deciding on the same version collide here.
        UniqueConstraint("entity_type", "entity_id", "version", name="events_entity_version_key"),
        # Only the indexes a query uses: sequencing rewrites each row once, and every index
        # costs an entry on that (non-HOT) update.
        Index("events_seq_key", "seq", unique=True, postgresql_where=text("seq IS NOT NULL")),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False, unique=True))
    entity_type: str = Field(sa_column=Column(Text, nullable=False))
    entity_id: str = Field(sa_column=Column(Text, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    type: str = Field(sa_column=Column(Text, nullable=False))
    schema_version: int = Field(sa_column=Column(Integer, nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    metadata_: dict[str, Any] = Field(
        sa_column=Column("metadata", JSONB, nullable=False, server_default=text("'{}'::jsonb"))
    )
    recorded_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class OutboxRow(SQLModel, table=True):
    """An appended event the relay has not sequenced yet (deleted once it has)."""

    __tablename__ = "outbox"

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    event_row_id: int = Field(sa_column=Column(BigInteger, nullable=False))


class CommandLogRow(SQLModel, table=True):
    """The reply to a command sent with an Idempotency-Key, kept for the retention period."""

    __tablename__ = "command_log"
    __table_args__ = (Index("command_log_created_at_idx", "created_at"),)

    scope: str = Field(sa_column=Column(Text, primary_key=True))
    key: str = Field(sa_column=Column(Text, primary_key=True))
    request_hash: str = Field(sa_column=Column(Text, nullable=False))
    reply: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )


class SnapshotRow(SQLModel, table=True):
    """The latest snapshot of an entity; ``state_schema`` invalidates it when the model changes."""

    __tablename__ = "snapshots"
    __table_args__ = (
        # GET /workflows: the running and paused workflows among every snapshot.
        Index(
            "snapshots_open_workflows",
            "entity_type",
            "entity_id",
            postgresql_where=text(
                "state->>'kind' = 'workflow' AND state->>'status' IN ('running', 'paused')"
            ),
        ),
    )

    entity_type: str = Field(sa_column=Column(Text, primary_key=True))
    entity_id: str = Field(sa_column=Column(Text, primary_key=True))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    state_schema: str = Field(sa_column=Column(Text, nullable=False))
    state: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    taken_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
