"""What the hub holds and WebSocket clients are sent: each event's JSON, built once."""

from __future__ import annotations

from dataclasses import dataclass

from app.journal.cloudevents import CloudEvent
from app.relay.log import LogFilter


@dataclass(frozen=True)
class LogEntry:
    """One sequenced event, ready to send: its JSON is built once for every reader."""

    seq: int
    type: str
    entity_type: str
    entity_id: str
    json: str

    def matches(self, wanted: LogFilter) -> bool:
        return wanted.matches(self.entity_type, self.type, self.entity_id)

    @classmethod
    def of(cls, event: CloudEvent) -> LogEntry:
        return cls(
            event.seq or 0,
            event.type,
            event.type.split(".", 1)[0],
            event.subject,
            event.model_dump_json(),
        )
