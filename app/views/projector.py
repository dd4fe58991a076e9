"""A view's live projector: the consumer that keeps its table in step with the log.

Each batch is ONE transaction: lock the checkpoint row, check it is where the batch starts,
fold the events into rows, write them, move the checkpoint. A crash at any point either
commits all of that or none of it, so no event is applied twice or missed.

Rows stay in memory between batches (this process is the table's only writer while it leads);
the cache is dropped whenever that might not hold: any error, a checkpoint that moved
elsewhere (another leader, a skip), or a rebuilt table swapped in (a new generation).
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from typing import Any

from psycopg_pool import AsyncConnectionPool
from sqlmodel import SQLModel

from app.relay.checkpoints import Checkpoints
from app.relay.consumer import HandlerFailed, PositionMoved
from app.relay.log import EventLog, LoggedEvent, Row, UndecodableEvent
from app.sdk.service import Service
from app.sdk.view import View
from app.views.projection import HandlerError, Projection


def decode_until_failure(
    event_log: EventLog, rows: list[Row]
) -> tuple[list[LoggedEvent], tuple[int, BaseException] | None]:
    """The decodable prefix of ``rows``, and the first failure (seq, error) if any."""
    decoded = []
    for row in rows:
        try:
            decoded.append(event_log.decode(row))
        except UndecodableEvent as error:
            return decoded, (row[0], error)
    return decoded, None


class ViewProjector:
    kind = "view"

    def __init__(
        self,
        view: View,
        service: Service,
        *,
        pool: AsyncConnectionPool,
        checkpoints: Checkpoints,
        event_log: EventLog,
        cache_size: int,
        on_advanced: Callable[[str, int], None] | None = None,
    ) -> None:
        self.view = view
        self.name = view.name
        self.log_types = service.log_types(view.handlers)
        self.start_from = view.start_from
        self.pool = pool
        self.checkpoints = checkpoints
        self.event_log = event_log
        self.projection = Projection(view)
        self.cache_size = cache_size
        self.on_advanced = on_advanced  # e.g. wake this process's consistent_with waiters
        self._rows: dict[Any, SQLModel | None] = {}
        self._cached_at: tuple[int, int] | None = None  # (position, generation) of _rows

    def reset(self) -> None:
        self._rows.clear()
        self._cached_at = None

    def for_partition(self, name: str, event_log: Any) -> ViewProjector:
        """This view's projector for one partition of a Kafka topic: its own checkpoint
        (``name``), no rows kept between batches, and each row it touches locked for its
        transaction: other processes write the same table for the other partitions."""
        projector = copy.copy(self)
        projector.name, projector.event_log = name, event_log
        projector._rows, projector._cached_at = {}, None
        projector.cache_size = 0
        projector.projection = Projection(self.view, lock_keys=True)
        return projector

    async def process(self, after: int, upto: int, rows: list[Row]) -> None:
        if not rows:  # nothing this view handles: move on in one statement
            if not await self.checkpoints.advance_from(self.name, after, upto):
                raise PositionMoved(f"{self.name} moved from {after}")
            if self._cached_at is not None:
                self._cached_at = (upto, self._cached_at[1])
            return
        events, failure = decode_until_failure(self.event_log, rows)
        try:
            end, generation, failure = await self._commit(after, upto, events, failure)
        except BaseException:
            self.reset()
            raise
        self._cached_at = (end, generation)
        if self.on_advanced is not None:
            self.on_advanced(self.name, end)
        if len(self._rows) > self.cache_size:
            self._evict()
        if failure is not None:
            raise HandlerFailed(*failure)

    def _evict(self) -> None:
        """Drop the rows cached longest ago (a tenth), not all: a view a little larger than
        the cache would otherwise reload every row on every batch."""
        excess = len(self._rows) - self.cache_size + self.cache_size // 10
        for key in list(itertools.islice(self._rows, max(excess, 1))):
            del self._rows[key]

    async def _commit(
        self,
        after: int,
        upto: int,
        events: list[LoggedEvent],
        failure: tuple[int, BaseException] | None,
    ) -> tuple[int, int, tuple[int, BaseException] | None]:
        async with self.pool.connection() as conn, conn.transaction():
            claim = await self.checkpoints.claim(conn, self.name)
            if claim.position != after:
                raise PositionMoved(f"{self.name} is at {claim.position}, not {after}")
            if self._cached_at != (after, claim.generation):
                self._rows.clear()
            table = self.view.table.name
            try:
                await self.projection.apply(conn, table, self._rows, events)
            except HandlerError as error:
                # Handlers may have half-changed rows in memory: fold the events before the
                # failing one again, from the stored rows, and commit just those.
                self._rows.clear()
                failure = (error.seq, error.error)
                events = [logged for logged in events if logged.meta.seq < error.seq]
                await self.projection.apply(conn, table, self._rows, events)
            end = failure[0] - 1 if failure else upto
            await self.checkpoints.advance(conn, self.name, end)
        return end, claim.generation, failure
