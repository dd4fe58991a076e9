"""Group commit: writes that arrive together leave together, in one statement and one commit.

Nothing waits for a timer: the first write starts a flush at once, and whatever queues up
while flushes are in flight goes out with the next one. So a lone write pays no extra
latency, and under load each commit (and its fsync) carries many (the journal's appends,
the webhook pump's results).

Atomicity stays per item: if a batch fails on something one row can cause (a unique
violation: a version lost to another process, an Idempotency-Key taken; or a value the
database refuses, such as a NUL in text), its items are re-run one per statement, so exactly
the guilty item sees the error and the others land.
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


class GroupCommit(Generic[T]):
    def __init__(
        self,
        write: Write[T],
        *,
        max_batch: int,
        max_in_flight: int,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        self._write = write
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
            if len(batch) == 1:
                _settle(batch[0][1], error=error)
            else:
                await asyncio.gather(*(self._one(item, future) for item, future in batch))
            return
        except BaseException as error:  # the database or the task failed: tell every waiter
            for _, future in batch:
                _settle(future, error=error)
            if isinstance(error, asyncio.CancelledError):
                raise
            return
        for _, future in batch:
            _settle(future)

    async def _one(self, item: T, future: asyncio.Future[None]) -> None:
        try:
            await self._write([item])
        except Exception as error:
            _settle(future, error=error)
        else:
            _settle(future)


def _settle(future: asyncio.Future[None], error: BaseException | None = None) -> None:
    with contextlib.suppress(asyncio.InvalidStateError):  # the waiter was cancelled meanwhile
        if error is None:
            future.set_result(None)
        else:
            future.set_exception(error)
