"""Another service's public stream as one consumer of this service reads it.

It answers what the local log answers a consumer (``head``, ``read_range``, ``decode``), so a
view's projector, an action's runner and a view's rebuild work on it unchanged: rows are
``(seq, event)``, the seq being the producer's, and ``decode`` gives this service's own model
of the public event. Only the types the consumer handles come through; a type (or version)
this service cannot read at all comes through too, to pin the consumer on it, unless the
subscription says ``ignore_unknown``.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from types import MappingProxyType
from typing import Any

from psycopg_pool import AsyncConnectionPool
from pydantic import ValidationError

from app.relay.log import LoggedEvent, UndecodableEvent
from app.sdk.streams import Subscription, UnknownPublicEvent
from app.sdk.view import EventMeta
from app.upstream.client import Row, StreamClient, UpstreamPage

PARKED = """
SELECT seq FROM parked_events WHERE consumer = %(name)s AND seq > %(after)s AND seq <= %(upto)s
"""
CARRIED = (
    ("correlationid", "correlation_id"),
    ("causationid", "causation_id"),
    ("traceparent", "traceparent"),
)


class UpstreamSource:
    def __init__(
        self,
        subscription: Subscription,
        handled: frozenset[str],
        client: StreamClient,
        pool: AsyncConnectionPool,
    ) -> None:
        self.subscription = subscription
        self.handled = handled  # the public type names the consumer has handlers for
        self.client = client
        self.pool = pool
        self._bare: Mapping[str, Any] = MappingProxyType({"upstream": subscription.upstream})

    async def head(self) -> int:
        return await self.client.head()

    async def close(self) -> None:
        await self.client.close()

    async def page(self, name: str, after: int, limit: int, wait: float = 0.0) -> UpstreamPage:
        """The next page for consumer ``name``: what it handles (and what it cannot read),
        decoded here already: a page read ahead is decoded while the one before it commits."""
        return await self.prepared(name, after, await self.client.page(after, limit, wait=wait))

    async def prepared(self, name: str, after: int, page: UpstreamPage) -> UpstreamPage:
        """``page`` as it came from the producer, kept to what consumer ``name`` reads and
        decoded (a range read ahead, asked for with ``upto``, is prepared the same way)."""
        rows = await self._wanted(name, after, page.next_after, page.rows)
        return UpstreamPage([self._decoded_ahead(row) for row in rows], page.next_after, page.head)

    def _decoded_ahead(self, row: Row) -> Row:
        """The row with its event decoded, or as it came when it cannot be: ``decode`` then
        raises for it in its place, so the consumer is pinned on exactly that event."""
        try:
            return row[0], self.decode(row)
        except UndecodableEvent:
            return row

    async def read_range(
        self, name: str, after: int, upto: int, types: frozenset[str] | None = None
    ) -> list[Row]:
        """Every wanted event in (after, upto] (a rebuild reads the stream this way)."""
        found: list[Row] = []
        while after < upto:
            page = await self.client.page(after, 5000, upto=upto)
            found += await self._wanted(name, after, page.next_after, page.rows)
            if page.next_after <= after:
                break
            after = page.next_after
        return found

    async def _wanted(self, name: str, after: int, upto: int, rows: list[Row]) -> list[Row]:
        kept = [row for row in rows if self._reads(row[1])]
        if not kept:
            return kept
        parked = await self._parked(name, after, upto)
        return [row for row in kept if row[0] not in parked] if parked else kept

    def _reads(self, event: dict[str, Any]) -> bool:
        type_name = event.get("type")
        model = self.subscription.types.get(str(type_name))
        if model is None:
            return not self.subscription.ignore_unknown  # pinned on, unless told to pass
        if type_name not in self.handled:
            return False
        newer = int(event.get("schemaversion") or 1) > model.schema_version
        return not (newer and self.subscription.ignore_unknown)

    async def _parked(self, name: str, after: int, upto: int) -> set[int]:
        """Events an operator skipped (read again only after a rewind)."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(PARKED, {"name": name, "after": after, "upto": upto})
            return {int(row[0]) for row in await cursor.fetchall()}

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
