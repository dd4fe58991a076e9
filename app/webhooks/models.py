"""The webhook API's bodies: what a client sends and what it gets back."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from app.webhooks.matching import PATTERN
from app.webhooks.urlguard import URL_FORM

EventTypes = list[str]
# Documented here, checked by the routes (matching.py, urlguard.py) with problems of their own.
EventTypePatterns = list[Annotated[str, Field(json_schema_extra={"pattern": PATTERN.pattern})]]
_URL = {"pattern": URL_FORM}


class WebhookCreate(BaseModel):
    # Strict: JSON's types as declared (no "yes" or 0 taken for a boolean).
    model_config = ConfigDict(extra="forbid", strict=True)

    url: str = Field(
        min_length=1,
        max_length=2000,
        examples=["https://pager.example/hooks"],
        json_schema_extra=_URL,
    )
    event_types: EventTypePatterns = Field(
        default_factory=list,
        max_length=100,
        description="Exact CloudEvents types ('alert.AlertRaised'), prefixes ('alert.*'), or "
        "'*'; empty: every event.",
    )
    description: str = Field(default="", max_length=500)
    enabled: bool = True
    ordered: bool = Field(
        default=False,
        description="Deliver each entity's events one at a time in seq order (entities in "
        "parallel); a failing entity holds back only its own later events.",
    )


class WebhookUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    url: str | None = Field(default=None, min_length=1, max_length=2000, json_schema_extra=_URL)
    event_types: EventTypePatterns | None = Field(default=None, max_length=100)
    description: str | None = Field(default=None, max_length=500)
    enabled: bool | None = None
    ordered: bool | None = None


class Webhook(BaseModel):
    id: uuid.UUID
    url: str
    event_types: EventTypes
    description: str
    enabled: bool
    ordered: bool
    disabled_reason: str | None = Field(description="Why Sluice disabled it, if it did.")
    failing_since: datetime | None = Field(description="Every attempt has failed since then.")
    last_success_at: datetime | None
    pending: int = Field(description="Deliveries waiting or being retried.")
    failed: int = Field(description="Deliveries that ran out of attempts (dead letters).")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then the rotated-out secret signs too."
    )
    after_seq: int = Field(description="It receives the events after this seq (and replays).")
    owner_key_id: uuid.UUID | None = Field(
        description="The API key that created it (it and admin keys alone see it); null for"
        " subscriptions made before keys owned them: admin keys only."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Webhook:
        return cls.model_validate({key: row[key] for key in cls.model_fields})


class WebhookCreated(Webhook):
    secret: str = Field(description="whsec_…: shown this once; it signs every request.")


class SecretRotated(BaseModel):
    secret: str = Field(description="The new secret, shown this once.")
    previous_secret_expires_at: datetime


class Attempt(BaseModel):
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    response_body: str | None = Field(description="The first KiB of the answer.")
    error: str | None


class Delivery(BaseModel):
    id: int
    seq: int | None = Field(description="The event's seq; null for a test ping.")
    event_id: uuid.UUID = Field(description="Sent as webhook-id: the same on every attempt.")
    event_type: str
    entity_type: str
    entity_id: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    next_attempt_at: datetime
    created_at: datetime
    finished_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[Attempt]


class DeliveryPage(BaseModel):
    deliveries: list[Delivery]
    next_before: int | None = Field(description="Pass as ?before= for older deliveries.")


class Queued(BaseModel):
    queued: int = Field(description="Deliveries queued.")
    delivery_id: int | None = None
