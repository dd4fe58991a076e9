"""The reply to a command: returned over HTTP and stored verbatim for Idempotency-Key replays."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel, Field


class AppendedEvent(BaseModel):
    event_id: uuid.UUID
    type: str = Field(description="CloudEvents type: '{entity_type}.{EventName}'.")
    version: int = Field(description="The entity's version this event brought it to.")


class CommandResult(BaseModel):
    entity_id: str
    version: int = Field(description="The entity's version after the command.")
    events: list[AppendedEvent]
    reply: dict[str, Any] | None = Field(
        default=None, description="What the entity answered, when it says more than its events."
    )
