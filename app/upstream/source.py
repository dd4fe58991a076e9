"""Another service's public stream as one consumer of this service reads it.

It answers what the local log answers a consumer (``head``, ``read_range``, ``decode``), so a
view's projector, an action's runner and a view's rebuild work on it unchanged: rows are
``(seq, event)``, the seq being the producer's, and ``decode`` gives this service's own model
of the public event. Only the types the consumer handles come through; a type (or version)
this service cannot read at all comes through too, to pin the consumer on it, unless the
subscription says ``ignore_unknown``.
"""

from __future__ import annotations

from psycopg_pool import AsyncConnectionPool

from app.sdk.streams import Subscription
from app.upstream.client import Row, StreamClient, UpstreamPage
from app.upstream.decoding import PublicEvents

PARKED = """
SELECT seq FROM parked_events WHERE consumer = %(name)s AND seq > %(after)s AND seq <= %(upto)s
"""


class UpstreamSource(PublicEvents):
    def __init__(
        self,
        subscription: Subscription,
        handled: frozenset[str],
        client: StreamClient,
        pool: AsyncConnectionPool,
    ) -> None:
        super().__init__(subscription, handled)
        self.client = client
        self.pool = pool

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
        return UpstreamPage([self.decoded_ahead(row) for row in rows], page.next_after, page.head)

    async def read_range(
        self,
        name: str,
        after: int,
        upto: int,
        types: frozenset[str] | None = None,
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
        kept = [row for row in rows if self.reads(row[1])]
        if not kept:
            return kept
        parked = await self._parked(name, after, upto)
        return [row for row in kept if row[0] not in parked] if parked else kept

    async def _parked(self, name: str, after: int, upto: int) -> set[int]:
        """Events an operator skipped (read again only after a rewind)."""
        async with self.pool.connection() as conn:
            cursor = await conn.execute(PARKED, {"name": name, "after": after, "upto": upto})
            return {int(row[0]) for row in await cursor.fetchall()}
