"""Webhook subscriptions, their deliveries, and every attempt at each delivery."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlmodel import Field, SQLModel


class WebhookRow(SQLModel, table=True):
    """A subscription. ``secret`` signs every request; after a rotation ``previous_secret``
    signs beside it until ``previous_secret_expires_at``, so receivers can switch calmly."""

    __tablename__ = "webhooks"

    id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), primary_key=True))
    url: str = Field(sa_column=Column(Text, nullable=False))
    event_types: list[str] = Field(sa_column=Column(JSONB, nullable=False))
    description: str = Field(sa_column=Column(Text, nullable=False, server_default=""))
    enabled: bool = Field(sa_column=Column(Boolean, nullable=False))
    ordered: bool = Field(sa_column=Column(Boolean, nullable=False))
    secret: str = Field(sa_column=Column(Text, nullable=False))
    previous_secret: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    previous_secret_expires_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    after_seq: int = Field(
        sa_column=Column(BigInteger, nullable=False),
        description="The log's head when it was created: it receives what comes after.",
    )
    disabled_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    failing_since: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    last_success_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    updated_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    owner_key_id: uuid.UUID | None = Field(
        default=None,
        sa_column=Column(UUID(as_uuid=True), nullable=True, index=True),
        description="The API key that created it: it and admin keys alone may see or change"
        " it. None (subscriptions older than ownership): admin keys only.",
    )


class DeliveryRow(SQLModel, table=True):
    """One event for one subscription, until it succeeds or runs out of attempts.

    ``seq`` is null for a test ping, whose body is kept in ``payload``; a logged event's body
    is built from the journal when it is sent.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index(
            "webhook_deliveries_event_key",
            "webhook_id",
            "seq",
            unique=True,
            postgresql_where=text("seq IS NOT NULL"),
        ),
        Index(
            "webhook_deliveries_due_idx",
            "webhook_id",
            "next_attempt_at",
            "id",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "webhook_deliveries_retry_idx",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
        ),
        Index(
            "webhook_deliveries_entity_idx",
            "webhook_id",
            "entity_type",
            "entity_id",
            "seq",
            postgresql_where=text("status = 'pending'"),
        ),
        Index("webhook_deliveries_listing_idx", "webhook_id", "status", "id"),
    )

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    webhook_id: uuid.UUID = Field(
        sa_column=Column(
            UUID(as_uuid=True), ForeignKey("webhooks.id", ondelete="CASCADE"), nullable=False
        )
    )
    seq: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    event_id: uuid.UUID = Field(sa_column=Column(UUID(as_uuid=True), nullable=False))
    event_type: str = Field(sa_column=Column(Text, nullable=False))
    entity_type: str = Field(sa_column=Column(Text, nullable=False))
    entity_id: str = Field(sa_column=Column(Text, nullable=False))
    payload: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    status: str = Field(sa_column=Column(Text, nullable=False, server_default="pending"))
    attempts: int = Field(sa_column=Column(Integer, nullable=False, server_default="0"))
    next_attempt_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    locked_until: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    last_status_code: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(
        sa_column=Column(DateTime(timezone=True), nullable=False, server_default=func.now())
    )
    finished_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class AttemptRow(SQLModel, table=True):
    """One HTTP attempt: what the receiver answered (or what went wrong), and how fast."""

    __tablename__ = "webhook_attempts"
    __table_args__ = (Index("webhook_attempts_delivery_idx", "delivery_id", "id"),)

    id: int | None = Field(
        default=None, sa_column=Column(BigInteger, Identity(always=True), primary_key=True)
    )
    delivery_id: int = Field(
        sa_column=Column(
            BigInteger,
            ForeignKey("webhook_deliveries.id", ondelete="CASCADE"),
            nullable=False,
        )
    )
    attempted_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    status_code: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    latency_ms: int = Field(sa_column=Column(Integer, nullable=False))
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
