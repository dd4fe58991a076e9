"""Public events as this service reads them, whatever carried them (HTTP pages, Kafka).

A row is ``(cursor, CloudEvent)``; ``decode`` turns it into this service's own model of the
public event (upcast, fields it does not know passed over) with its metadata, or raises
``UndecodableEvent`` naming the cursor, so the consumer is pinned on exactly that event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from app.relay.log import LoggedEvent, UndecodableEvent
from app.sdk.streams import Subscription, UnknownPublicEvent
from app.sdk.view import EventMeta

Row = tuple[int, Any]
CARRIED = (
    ("correlationid", "correlation_id"),
    ("causationid", "causation_id"),
    ("traceparent", "traceparent"),
)


class PublicEvents:
    def __init__(self, subscription: Subscription, handled: frozenset[str]) -> None:
        self.subscription = subscription
        self.handled = handled  # the public type names the consumer has handlers for
        self._bare: Mapping[str, Any] = MappingProxyType({"upstream": subscription.upstream})

    def reads(self, event: dict[str, Any]) -> bool:
        type_name = event.get("type")
        model = self.subscription.types.get(str(type_name))
        if model is None:
            return not self.subscription.ignore_unknown  # pinned on, unless told to pass
        if type_name not in self.handled:
            return False
        newer = int(event.get("schemaversion") or 1) > model.schema_version
        return not (newer and self.subscription.ignore_unknown)

    def decoded_ahead(self, row: Row) -> Row:
        """The row with its event decoded, or as it came when it cannot be: ``decode`` then
        raises for it in its place, so the consumer is pinned on exactly that event."""
        try:
            return row[0], self.decode(row)
        except UndecodableEvent:
            return row

    def decode(self, row: Row) -> LoggedEvent:
        seq, event = row
        if isinstance(event, LoggedEvent):
            return event  # decoded when its page was read
        try:
            public = self.subscription.read(
                str(event["type"]), int(event["schemaversion"]), event["data"]
            )
            meta = EventMeta(
                seq=seq,
                event_id=uuid.UUID(str(event["id"])),
                entity_type=self.subscription.stream,
                entity_id=str(event["subject"]),
                version=int(event.get("entityversion") or 0),
                recorded_at=datetime.fromisoformat(str(event["time"])),
                metadata=self._metadata(event),
            )
        except (UnknownPublicEvent, ValidationError, KeyError, ValueError, TypeError) as error:
            raise UndecodableEvent(f"{self.subscription.upstream} seq {seq}: {error}") from error
        return LoggedEvent(public, meta)

    def _metadata(self, event: dict[str, Any]) -> Mapping[str, Any]:
        carried = {ours: value for theirs, ours in CARRIED if (value := event.get(theirs))}
        if not carried:  # the usual case: one read-only mapping shared by every such event
            return self._bare
        return {**carried, "upstream": self.subscription.upstream}
