"""A view's live projector: the consumer that keeps its table in step with the log.

Each batch is ONE transaction: lock the checkpoint row, check it is where the batch starts,
fold the events into rows, write them, move the checkpoint. A crash at any point either
commits all of that or none of it, so no event is applied twice or missed. When every row a
short batch is about is already in memory (the common case while it leads), that transaction
is one round trip: the events are folded first, and the writes only land if the checkpoint
is still where the rows were cached.

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

from app.relay.checkpoints import STILL_AT, Checkpoints
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
    reads_log = True

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
        """The batch's rows and checkpoint in one transaction; (end, generation, failure)."""
        end = failure[0] - 1 if failure else upto
        at_once = await self._commit_at_once(after, end, events)
        if at_once is not None:
            return end, at_once, failure
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

    async def _commit_at_once(self, after: int, end: int, events: list[LoggedEvent]) -> int | None:
        """The common case in one round trip, not five: every row the batch is about is in
        memory, as of the position it starts from. The events are folded first, then rows
        and checkpoint are written together, only if the checkpoint is still where these
        rows were cached (position and table generation). Returns the generation, or None
        when the rows are not all in memory (or a handler failed: ``_commit`` redoes it from
        the stored rows and finds the event)."""
        if self._cached_at is None or self._cached_at[0] != after or self.projection.lock_keys:
            return None
        generation = self._cached_at[1]
        try:
            touched = self.projection.fold_in_memory(self._rows, events)
        except HandlerError:
            self._rows.clear()  # half-changed by the handler: reloaded from the table
            return None
        if touched is None:
            return None
        effects = self.projection.writes(self.view.table.name, touched, guard=STILL_AT)
        if not await self.checkpoints.commit_at(self.name, after, generation, end, effects):
            raise PositionMoved(f"{self.name} moved from {after}, or its table was rebuilt")
        return generation
