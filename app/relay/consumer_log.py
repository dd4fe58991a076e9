"""The log as consumers read it: a range of seq, only the types they handle, decoded.

A consumer reads by *range* (seq in (after, upto]) rather than by count, so its checkpoint
can move past a stretch of events it does not handle without reading them; ``seq`` is
gapless, so every event up to the head is in some range.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.sdk.events import Event
from app.sdk.service import Service
from app.sdk.view import EventMeta

HEAD = "SELECT COALESCE(max(seq), 0) FROM events"

READ_RANGE = """
SELECT seq, event_id, entity_type, entity_id, version, type, schema_version, data, metadata,
       recorded_at
FROM events
WHERE seq > %(after)s AND seq <= %(upto)s
  AND (%(everything)s OR (entity_type || '.' || type) = ANY(%(types)s))
  AND NOT EXISTS (
      SELECT 1 FROM parked_events p WHERE p.consumer = %(name)s AND p.seq = events.seq)
ORDER BY seq
"""

Row = tuple[Any, ...]


@dataclass(frozen=True, slots=True)
class LoggedEvent:
    event: Event
    meta: EventMeta


class UndecodableEvent(Exception):
    """A stored event this code cannot read (unknown type, missing upcaster, bad data)."""


class ConsumerLog:
    def __init__(self, pool: AsyncConnectionPool, service: Service) -> None:
        self.pool = pool
        self.service = service

    async def head(self) -> int:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(HEAD)).fetchone()
        return int(row[0]) if row else 0

    async def read(
        self, name: str, after: int, upto: int, types: frozenset[str] | None
    ) -> list[Row]:
        """The events in (after, upto] of ``types`` (None: every type), minus parked ones."""
        params = {
            "name": name,
            "after": after,
            "upto": upto,
            "everything": types is None,
            "types": sorted(types or ()),
        }
        async with self.pool.connection() as conn:
            return list(await (await conn.execute(READ_RANGE, params)).fetchall())

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
            event_id=event_id if isinstance(event_id, uuid.UUID) else uuid.UUID(str(event_id)),
            entity_type=entity_type,
            entity_id=entity_id,
            version=version,
            recorded_at=recorded_at,
            metadata=metadata,
        )
        return LoggedEvent(event, meta)
