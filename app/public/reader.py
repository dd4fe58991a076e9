"""A public stream, read: the log's chosen events, transformed on the way out.

Nothing is stored twice: a page is read from the log (only the internal types the stream's
publishers read), each event is decoded, upcast and handed to its publisher, and what comes
back is served as a CloudEvent whose cursor is the producer's own ``seq``. Publishers are
stateless and deterministic, so the same cursor always yields the same events, which is what
lets a consumer resume anywhere and a rebuild replay from zero.

``next_after`` is the last seq *examined*, not the last one published: a stretch the stream
filters out still moves a reader's cursor, so its lag is the producer's head minus its cursor,
exactly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic_core import to_json

from app.relay.log import EventLog, LoggedEvent, Row
from app.sdk.service import Service
from app.sdk.streams import Stream
from app.stream.entries import LogEntry

log = logging.getLogger("sluice.public")

PublicCloudEvent = dict[str, Any]


class CursorAhead(Exception):
    """A reader's cursor past the head: it read another producer, or this one lost events
    (restored from an older backup). Never answered as an empty page."""

    def __init__(self, stream: str, after: int, head: int) -> None:
        super().__init__(
            f"after={after} is beyond the head of stream {stream} (seq {head}): is this the"
            " producer the cursor came from?"
        )
        self.head = head


class PublisherFailed(Exception):
    """The producer's own bug: an event its stream cannot decode or transform."""

    def __init__(self, stream: str, seq: int, error: BaseException) -> None:
        super().__init__(f"stream {stream}: the event at seq {seq} cannot be published: {error}")
        self.seq = seq


@dataclass(frozen=True)
class StreamPage:
    events: list[PublicCloudEvent]  # each in the shape of app.journal.cloudevents.CloudEvent
    next_after: int  # the last seq examined: pass it as ?after= for the next page
    head: int  # the producer's log head when the page was read


class PublicStream:
    def __init__(
        self, stream: Stream, service: Service, event_log: EventLog, service_name: str
    ) -> None:
        self.stream = stream
        self.event_log = event_log
        self.service_name = service_name
        self.source = f"/sluice/{service_name}/streams/{stream.id}"
        self.log_types = service.log_types(stream.handlers)

    async def page(self, after: int, limit: int, upto: int | None = None) -> StreamPage:
        """At most ``limit`` public events after ``after`` (and up to ``upto``)."""
        head = await self.event_log.head()  # first: nothing sequenced later is skipped
        if after > head:
            raise CursorAhead(self.stream.id, after, head)
        end = head if upto is None else min(upto, head)
        if end <= after:
            return StreamPage([], after, head)
        rows = await self.event_log.read_typed(after, end, limit, self.log_types)
        events = [event for row in rows if (event := self.published(row)) is not None]
        next_after = rows[-1][0] if len(rows) == limit else end
        return StreamPage(events, next_after, head)

    async def entries(self, after: int, limit: int) -> tuple[list[LogEntry], int]:
        """A page as a WebSocket sends it (each event's JSON built once), and its cursor."""
        page = await self.page(after, limit)
        return [public_entry(self.stream.id, event) for event in page.events], page.next_after

    def published(self, row: Row) -> PublicCloudEvent | None:
        try:
            logged: LoggedEvent = self.event_log.decode(row)
            public = self.stream.publish(logged.event, logged.meta)
        except Exception as error:  # undecodable, or the publisher's own bug
            failed = PublisherFailed(self.stream.id, row[0], error)
            log.error("%s", failed)
            raise failed from error
        if public is None:
            return None
        meta, metadata = logged.meta, logged.meta.metadata
        # Built in one go (validated once): every page of a catch-up builds thousands.
        # A plain dict in CloudEvent's shape (the model documents it): a catch-up page holds
        # thousands, and pydantic-core serialises dicts fastest.
        return {
            "specversion": "1.0",
            "id": str(meta.event_id),
            "source": self.source,
            "type": public.event_type,
            "subject": meta.entity_id,
            "time": meta.recorded_at,
            "datacontenttype": "application/json",
            "data": public.model_dump(mode="json"),
            "seq": meta.seq,
            "entityversion": meta.version,
            "schemaversion": type(public).schema_version,
            "correlationid": metadata.get("correlation_id"),
            "causationid": metadata.get("causation_id"),
            "traceparent": metadata.get("traceparent"),
        }


def public_entry(stream_id: str, event: PublicCloudEvent) -> LogEntry:
    """A public event as the WebSocket machinery holds one: filters see its type and
    subject; its "entity type" is the stream's id."""
    json = to_json(event).decode()
    return LogEntry(event["seq"], event["type"], stream_id, event["subject"], json)
