"""The log, read: every reader of the sequenced events goes through ``EventLog``.

``seq`` is the only cursor: it is gapless and only grows, so "everything after N" is exact.
Two shapes come out:

* consumers (views, actions, the webhook dispatcher) read by *range* (seq in (after, upto]),
  only the types they handle, minus the events parked for them, and decode each row to its
  typed event: a checkpoint can move past a stretch of events it does not handle without
  reading them, and every event up to the head is in some range;
* clients (``GET /events``, WebSockets, webhook bodies) read pages of CloudEvents, upcast to
  each type's current schema on the way out, so readers see one shape per type.
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
from app.relay.sql import HEAD, LOGGED_COLUMNS
from app.sdk.events import Event
from app.sdk.service import Service
from app.sdk.view import EventMeta

_COLUMNS = ", ".join(LOGGED_COLUMNS)
READ_RANGE = f"""
SELECT {_COLUMNS}
FROM events
WHERE seq > %(after)s AND seq <= %(upto)s
  AND (%(everything)s OR (entity_type || '.' || type) = ANY(%(types)s))
  AND NOT EXISTS (
      SELECT 1 FROM parked_events p WHERE p.consumer = %(name)s AND p.seq = events.seq)
ORDER BY seq
"""

READ_PAGE = f"""
SELECT {_COLUMNS}
FROM events
WHERE seq > %(after)s {{filters}}
ORDER BY seq
LIMIT %(limit)s
"""
BY_SEQ = f"SELECT {_COLUMNS} FROM events WHERE seq = ANY(%(seqs)s)"
READ_TYPED = f"""
SELECT {_COLUMNS}
FROM events
WHERE seq > %(after)s AND seq <= %(upto)s AND (entity_type || '.' || type) = ANY(%(types)s)
ORDER BY seq
LIMIT %(limit)s
"""

Row = tuple[Any, ...]  # LOGGED_COLUMNS, in order


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    event: Event
    meta: EventMeta


class UndecodableEvent(Exception):
    """A stored event this code cannot read (unknown type, missing upcaster, bad data)."""


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


class EventLog:
    def __init__(self, pool: AsyncConnectionPool, service: Service, service_name: str) -> None:
        self.pool = pool
        self.service = service
        self.service_name = service_name

    async def head(self) -> int:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(HEAD)).fetchone()
        return int(row[0]) if row else 0

    # -- consumers ---------------------------------------------------------------------------
    async def read_range(
        self, name: str, after: int, upto: int, types: frozenset[str] | None
    ) -> list[Row]:
        """The events in (after, upto] of ``types`` (None: every type), minus those parked
        for consumer ``name``."""
        params = {
            "name": name,
            "after": after,
            "upto": upto,
            "everything": types is None,
            "types": sorted(types or ()),
        }
        async with self.pool.connection() as conn:
            return list(await (await conn.execute(READ_RANGE, params)).fetchall())

    async def read_typed(
        self, after: int, upto: int, limit: int, types: frozenset[str]
    ) -> list[Row]:
        """At most ``limit`` events of ``types`` in (after, upto], in seq order (what a
        public stream reads before it transforms them)."""
        params = {"after": after, "upto": upto, "limit": limit, "types": sorted(types)}
        async with self.pool.connection() as conn:
            return list(await (await conn.execute(READ_TYPED, params)).fetchall())

    async def close(self) -> None:
        """Nothing of its own to release (the pool is the process's); a reader of another
        service's stream has its HTTP client to close, so both answer this."""

    def decode(self, row: Row) -> LoggedEvent:
        seq, event_id, entity_type, entity_id, version, type_name, schema_version = row[:7]
        data, metadata, recorded_at = row[7:]
        entity = self.service.entity_types.get(entity_type)
        try:
            if entity is None:
                raise LookupError(f"unknown entity type {entity_type!r}")
            event = entity.event_from_stored(type_name, schema_version, data)
        except Exception as error:
            raise UndecodableEvent(f"{entity_type}.{type_name} at seq {seq}: {error}") from error
        meta = EventMeta(
            seq=seq,
            event_id=_uuid(event_id),
            entity_type=entity_type,
            entity_id=entity_id,
            version=version,
            recorded_at=recorded_at,
            metadata=metadata,
        )
        return LoggedEvent(event, meta)

    # -- clients -----------------------------------------------------------------------------
    async def read(
        self, after: int, limit: int, wanted: LogFilter | None = None
    ) -> list[CloudEvent]:
        filters, params = (wanted or LogFilter()).sql()
        query = READ_PAGE.format(filters=filters)
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query, {"after": after, "limit": limit, **params})
            rows = await cursor.fetchall()
        return [self._cloud_event(row) for row in rows]

    def notified(self, payload: str) -> tuple[int, list[CloudEvent]]:
        """The head a sequencer's notification announced, and the events it carried (none
        when the batch was too big to ride along). Raises ValueError on a foreign payload."""
        head, _, rows = payload.partition(" ")
        if not rows:
            return int(head), []
        return int(head), [
            self._cloud_event(dict(zip(LOGGED_COLUMNS, row, strict=True)))
            for row in jsonb.loads(rows)
        ]

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


def _uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _time(value: Any) -> datetime:
    """In UTC, whatever the session's time zone: a row read back and the same row carried
    by a notification must serialize alike."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.astimezone(UTC)
