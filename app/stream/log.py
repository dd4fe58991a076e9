"""Reading the sequenced log: pages of events by ``seq``, as CloudEvents.

``seq`` is the only cursor: it is gapless and only grows, so "everything after N" is exact.
Events are upcast to their current schema on the way out, so readers see one shape per type.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.db import jsonb
from app.journal.cloudevents import CloudEvent, cloud_event
from app.relay.sql import NOTIFIED_COLUMNS
from app.sdk.service import Service

READ_PAGE = """
SELECT seq, event_id, entity_type, entity_id, version, type, schema_version, data, metadata,
       recorded_at
FROM events
WHERE seq > %(after)s {filters}
ORDER BY seq
LIMIT %(limit)s
"""

HEAD = "SELECT COALESCE(max(seq), 0) FROM events"

BY_SEQ = """
SELECT seq, event_id, entity_type, entity_id, version, type, schema_version, data, metadata,
       recorded_at
FROM events WHERE seq = ANY(%(seqs)s)
"""


@dataclass(frozen=True)
class LogFilter:
    """Which events a reader wants: CloudEvents types (any of), and/or one entity type or id."""

    types: frozenset[str] = frozenset()
    entity_type: str | None = None
    entity_id: str | None = None

    def matches(self, entity_type: str, type_name: str, entity_id: str) -> bool:
        if self.entity_type is not None and entity_type != self.entity_type:
            return False
        if self.entity_id is not None and entity_id != self.entity_id:
            return False
        return not self.types or type_name in self.types

    def sql(self) -> tuple[str, dict[str, Any]]:
        clauses, params = [], {}
        if self.entity_type is not None:
            clauses.append("entity_type = %(entity_type)s")
            params["entity_type"] = self.entity_type
        if self.entity_id is not None:
            clauses.append("entity_id = %(entity_id)s")
            params["entity_id"] = self.entity_id
        if self.types:
            clauses.append("(entity_type || '.' || type) = ANY(%(types)s)")
            params["types"] = sorted(self.types)
        return "".join(f" AND {clause}" for clause in clauses), params


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


class EventLog:
    def __init__(self, pool: AsyncConnectionPool, service: Service, service_name: str) -> None:
        self.pool = pool
        self.service = service
        self.service_name = service_name

    async def head(self) -> int:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(HEAD)).fetchone()
        return int(row[0]) if row else 0

    async def read(
        self, after: int, limit: int, wanted: LogFilter | None = None
    ) -> list[CloudEvent]:
        filters, params = (wanted or LogFilter()).sql()
        query = READ_PAGE.format(filters=filters)
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query, {"after": after, "limit": limit, **params})
            rows = await cursor.fetchall()
        return [self._cloud_event(row) for row in rows]

    async def read_entries(self, after: int, limit: int) -> list[LogEntry]:
        """Every event after ``after`` (unfiltered, so the cursor moves even past
        non-matching stretches), each serialized once."""
        return [_entry(event) for event in await self.read(after, limit)]

    def notified_entries(self, payload: str) -> tuple[int, list[LogEntry]]:
        """The head a sequencer's notification announced, and the events it carried (none
        when the batch was too big to ride along). Raises ValueError on a foreign payload."""
        head, _, rows = payload.partition(" ")
        if not rows:
            return int(head), []
        events = [
            self._cloud_event(dict(zip(NOTIFIED_COLUMNS, row, strict=True)))
            for row in jsonb.loads(rows)
        ]
        return int(head), [_entry(event) for event in events]

    async def by_seq(self, seqs: list[int]) -> dict[int, CloudEvent]:
        """These events, keyed by seq (for webhook bodies)."""
        if not seqs:
            return {}
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(BY_SEQ, {"seqs": seqs})
            rows = await cursor.fetchall()
        return {row["seq"]: self._cloud_event(row) for row in rows}

    def _cloud_event(self, row: dict[str, Any]) -> CloudEvent:
        data, schema_version = row["data"], row["schema_version"]
        entity = self.service.entity_types.get(row["entity_type"])
        if entity is not None and row["type"] in entity.event_types:
            event = entity.event_from_stored(row["type"], schema_version, data)
            data, schema_version = event.model_dump(mode="json"), type(event).schema_version
        return cloud_event(
            service_name=self.service_name,
            entity_type=row["entity_type"],
            entity_id=row["entity_id"],
            event_id=_uuid(row["event_id"]),
            type_name=row["type"],
            version=row["version"],
            schema_version=schema_version,
            data=data,
            metadata=row["metadata"],
            recorded_at=_time(row["recorded_at"]),
            seq=row["seq"],
        )


def _entry(event: CloudEvent) -> LogEntry:
    return LogEntry(
        event.seq or 0,
        event.type,
        event.type.split(".", 1)[0],
        event.subject,
        event.model_dump_json(),
    )


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _time(value: Any) -> datetime:
    """In UTC, whatever the session's time zone: a row read back and the same row carried
    by a notification must serialize alike."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC)
