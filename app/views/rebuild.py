"""Rebuilding a view: replay the whole log into a fresh table, then swap it in atomically.

Queries keep reading the live table the whole time. The swap is one transaction that locks
the view's checkpoint row (pausing the live projector), brings the fresh table up to the
live checkpoint, drops the live table and renames the fresh one in its place, and bumps the
checkpoint's generation so every projector forgets the rows it cached.

One rebuild per view at a time, cluster-wide: a session advisory lock, held while it runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool
from sqlmodel import SQLModel

from app.background.tasks import cancel_and_wait, describe
from app.db.locks import TRY_NAMED_LOCK
from app.relay.checkpoints import Checkpoints
from app.relay.log import EventLog
from app.sdk.view import View
from app.views.projection import HandlerError, Projection
from app.views.projector import decode_until_failure
from app.views.schema import create_shadow, drop_shadow, shadow_name, swap_in_shadow

log = logging.getLogger("sluice.views")

REBUILD_LOCK_NAMESPACE = 0x51D0

STARTED = """
UPDATE checkpoints SET rebuild_state = 'running', rebuild_position = 0, rebuild_error = NULL,
       rebuild_started_at = now()
WHERE name = %(name)s
"""
PROGRESSED = "UPDATE checkpoints SET rebuild_position = %(position)s WHERE name = %(name)s"
FAILED = """
UPDATE checkpoints SET rebuild_state = 'failed', rebuild_error = %(error)s WHERE name = %(name)s
"""
SWAPPED = """
UPDATE checkpoints SET position = %(position)s, generation = generation + 1,
       rebuild_state = 'done', rebuild_position = %(position)s, rebuilt_at = now(),
       failing_seq = NULL, error = NULL, failing_since = NULL, attempts = 0, updated_at = now()
WHERE name = %(name)s
"""


class RebuildRunning(Exception):
    """Another rebuild of this view holds its lock."""


class ViewRebuild:
    def __init__(
        self,
        view: View,
        *,
        conninfo: str,
        pool: AsyncConnectionPool,
        checkpoints: Checkpoints,
        event_log: EventLog,
        log_types: frozenset[str],
        batch_size: int,
    ) -> None:
        self.view = view
        self.conninfo = conninfo
        self.pool = pool
        self.checkpoints = checkpoints
        self.event_log = event_log
        self.log_types = log_types
        self.batch_size = batch_size
        self.projection = Projection(view)
        self._lock_conn: psycopg.AsyncConnection | None = None
        self._rows: dict[Any, SQLModel | None] = {}

    async def acquire(self) -> None:
        """Take the view's rebuild lock, or raise RebuildRunning; call before ``run``."""
        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        row = await (
            await conn.execute(TRY_NAMED_LOCK, [REBUILD_LOCK_NAMESPACE, self.view.name])
        ).fetchone()
        if not (row and row[0]):
            await conn.close()
            raise RebuildRunning(self.view.name)
        self._lock_conn = conn
        await conn.execute(STARTED, {"name": self.view.name})

    async def run(self) -> None:
        assert self._lock_conn is not None, "acquire() first"
        try:
            async with self.pool.connection() as conn:
                await create_shadow(conn, self.view)
            position = await self._catch_up(0)
            await self._swap(position)
            log.info("view %s rebuilt up to seq %d", self.view.name, position)
        except BaseException as error:
            await self._failed(error)
            raise
        finally:
            await self._lock_conn.close()  # releases the rebuild lock
            await self.event_log.close()  # another service's stream: its HTTP client

    async def _catch_up(self, position: int) -> int:
        """Fill the shadow table batch by batch (own transactions) until it nears the head."""
        while True:
            head = await self.event_log.head()
            if head - position <= self.batch_size // 10:
                return position
            async with self.pool.connection() as conn, conn.transaction():
                position = await self._apply(conn, position, min(head, position + self.batch_size))
                await conn.execute(PROGRESSED, {"name": self.view.name, "position": position})

    async def _apply(self, conn: psycopg.AsyncConnection, after: int, upto: int) -> int:
        rows = await self.event_log.read_range(self.view.name, after, upto, self.log_types)
        events, failure = decode_until_failure(self.event_log, rows)
        if failure is not None:
            raise HandlerError(*failure)
        await self.projection.apply(conn, shadow_name(self.view.table.name), self._rows, events)
        if len(self._rows) > 100_000:
            self._rows.clear()
        return upto

    async def _swap(self, position: int) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            claim = await self.checkpoints.claim(conn, self.view.name)
            while position < claim.position:  # the live table is ahead: match it exactly
                upto = min(claim.position, position + self.batch_size)
                position = await self._apply(conn, position, upto)
            await swap_in_shadow(conn, self.view)
            await conn.execute(SWAPPED, {"name": self.view.name, "position": position})

    async def _failed(self, error: BaseException) -> None:
        reason = "cancelled" if isinstance(error, asyncio.CancelledError) else describe(error)
        log.error("view %s: rebuild failed: %s", self.view.name, reason)
        try:
            async with self.pool.connection() as conn:
                await drop_shadow(conn, self.view)
                await conn.execute(FAILED, {"name": self.view.name, "error": reason[:4000]})
        except Exception:
            log.exception("view %s: could not record the failed rebuild", self.view.name)


class Rebuilds:
    """The rebuilds this process runs, so shutdown can stop them (the shadow is dropped)."""

    def __init__(self, make: Callable[[View], ViewRebuild]) -> None:
        self.make = make
        self._tasks: set[asyncio.Task[None]] = set()

    def start(self) -> None:
        """Nothing runs until an operator asks for a rebuild."""

    async def begin(self, view: View) -> None:
        rebuild = self.make(view)
        await rebuild.acquire()
        task = asyncio.create_task(self._run(rebuild), name=f"sluice-rebuild-{view.name}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, rebuild: ViewRebuild) -> None:
        with contextlib.suppress(Exception):  # recorded in the view's status by run()
            await rebuild.run()

    async def stop(self) -> None:
        for task in list(self._tasks):
            await cancel_and_wait(task)
