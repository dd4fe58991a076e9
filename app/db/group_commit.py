"""Group commit: writes that arrive together leave together, in one statement and one commit.

Nothing waits for a timer: the first write starts a flush at once, and whatever queues up
while flushes are in flight goes out with the next one. So a lone write pays no extra
latency, and under load each commit (and its fsync) carries many (the journal's appends,
the webhook pump's results).

Atomicity stays per item: if a batch fails on something one row can cause (a unique
violation: a version lost to another process, an Idempotency-Key taken; or a value the
database refuses, such as a NUL in text), its items are re-run one per statement, so exactly
the guilty item sees the error and the others land. A writer that can name the guilty items
with one cheap look (``culprits``: the journal asks which entities already have the versions
a batch wanted) spares that: the named items fail, the rest go out again as one batch. With
several processes appending to the same entities, a stale cache loses a version often, and
one commit per item would have made every such batch cost as many transactions as items.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

import psycopg

T = TypeVar("T")
# Errors one item of a batch can cause on its own: worth re-running the items one by one.
ONE_ITEM_ERRORS = (psycopg.errors.IntegrityError, psycopg.errors.DataError)
Write = Callable[[Sequence[T]], Awaitable[None]]
# Given a batch and the error it failed with: the items known to cause it, each with the error
# it should see (none known: every item is re-run on its own).
Culprits = Callable[[Sequence[T], Exception], Awaitable[dict[int, Exception]]]


class GroupCommit(Generic[T]):
    def __init__(
        self,
        write: Write[T],
        *,
        max_batch: int,
        max_in_flight: int,
        on_batch: Callable[[int], None] | None = None,
        culprits: Culprits[T] | None = None,
    ) -> None:
        self._write = write
        self._culprits = culprits
        self.max_batch = max_batch
        self.max_in_flight = max_in_flight
        self.on_batch = on_batch  # told each batch's size as it leaves: how well commits group
        self._queue: list[tuple[T, asyncio.Future[None]]] = []
        self._in_flight: set[asyncio.Task[None]] = set()
        self._starting = False
        self.batches = 0
        self.items = 0

    async def append(self, item: T) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((item, future))
        self._maybe_flush()
        await future

    def _maybe_flush(self) -> None:
        """Start a flush unless one is about to start: it takes the queue when it runs, so
        every append made in the same turn of the event loop shares its commit."""
        if self._starting or not self._queue or len(self._in_flight) >= self.max_in_flight:
            return
        self._starting = True
        task = asyncio.create_task(self._flush())
        self._in_flight.add(task)
        task.add_done_callback(self._flushed)

    def _flushed(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._maybe_flush()

    async def _flush(self) -> None:
        self._starting = False
        batch, self._queue = self._queue[: self.max_batch], self._queue[self.max_batch :]
        self._maybe_flush()  # more than one batch waiting: send the next one alongside
        if not batch:
            return
        self.batches += 1
        self.items += len(batch)
        if self.on_batch is not None:
            self.on_batch(len(batch))
        try:
            await self._write([item for item, _ in batch])
        except ONE_ITEM_ERRORS as error:
            await self._failed(batch, error)
            return
        except BaseException as error:  # the database or the task failed: tell every waiter
            _settle_all(batch, error)
            return
        _settle_all(batch)

    async def _failed(self, batch: list[tuple[T, asyncio.Future[None]]], error: Exception) -> None:
        """A batch failed on what one item can cause: find that item, and let the rest land."""
        if len(batch) == 1:
            _settle(batch[0][1], error=error)
            return
        known = await self._known_culprits(batch, error)
        if not known:
            await asyncio.gather(*(self._one(item, future) for item, future in batch))
            return
        for index, culprit_error in known.items():
            _settle(batch[index][1], error=culprit_error)
        rest = [entry for index, entry in enumerate(batch) if index not in known]
        if not rest:
            return
        try:
            await self._write([item for item, _ in rest])
        except ONE_ITEM_ERRORS:  # another culprit, unnamed: one by one after all
            await asyncio.gather(*(self._one(item, future) for item, future in rest))
        except BaseException as again:
            _settle_all(rest, again)
        else:
            _settle_all(rest)

    async def _known_culprits(
        self, batch: list[tuple[T, asyncio.Future[None]]], error: Exception
    ) -> dict[int, Exception]:
        if self._culprits is None:
            return {}
        try:
            return await self._culprits([item for item, _ in batch], error)
        except Exception:  # no answer: nothing is known, each item is tried on its own
            return {}

    async def _one(self, item: T, future: asyncio.Future[None]) -> None:
        try:
            await self._write([item])
        except Exception as error:
            _settle(future, error=error)
        else:
            _settle(future)


def _settle_all(
    batch: list[tuple[T, asyncio.Future[None]]], error: BaseException | None = None
) -> None:
    for _, future in batch:
        _settle(future, error=error)
    if isinstance(error, asyncio.CancelledError):
        raise error


def _settle(future: asyncio.Future[None], error: BaseException | None = None) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):  # the waiter was cancelled meanwhile
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
