"""Which consumers this process leads: advisory locks held by one connection per process.

Each consumer (a view's projector, an action, the webhook dispatcher) has a session advisory
lock; a process leads the consumers whose locks its ``Leadership`` connection holds. If the
process dies, PostgreSQL drops the connection and with it the locks, and a standby takes them
at its next try (every ``SLUICE_LEADER_RETRY_SECONDS``). A lost connection ends this process's
leadership at once: the workers see ``leading(name)`` turn false before their next batch.

Leadership is an efficiency, not the safety net: a view's batch also locks its checkpoint row
and checks its position, so two processes briefly believing they lead cannot both apply it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid

import psycopg

from app.background.settings import WorkerSettings
from app.background.worker import PollingWorker
from app.db.locks import TRY_NAMED_LOCK

log = logging.getLogger("sluice.relay")

CONSUMER_LOCK_NAMESPACE = 0x51CF


def process_identity() -> str:
    """host:pid, and a short tag telling apart two apps in one process (as tests run them)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


class Leadership(PollingWorker):
    name = "leadership"

    def __init__(self, conninfo: str, settings: WorkerSettings) -> None:
        super().__init__(listener=None, settings=settings)
        self.conninfo = conninfo
        self.retry_interval = settings.leader_retry_seconds
        self.identity = process_identity()
        self._flags: dict[str, asyncio.Event] = {}
        self._conn: psycopg.AsyncConnection | None = None

    def want(self, name: str) -> None:
        self._flags.setdefault(name, asyncio.Event())

    def leading(self, name: str) -> bool:
        flag = self._flags.get(name)
        return flag is not None and flag.is_set()

    async def wait_leading(self, name: str) -> None:
        await self._flags[name].wait()

    def led(self) -> list[str]:
        return sorted(name for name, flag in self._flags.items() if flag.is_set())

    async def step(self) -> float:
        """Try for what we do not lead; a query even when we lead everything, so a dead
        connection is noticed within one interval."""
        if self._conn is None:
            self._conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
        wanted = [name for name, flag in self._flags.items() if not flag.is_set()]
        if not wanted:
            await self._conn.execute("SELECT 1")
        for name in wanted:
            params = [CONSUMER_LOCK_NAMESPACE, name]
            row = await (await self._conn.execute(TRY_NAMED_LOCK, params)).fetchone()
            if row and row[0]:
                log.info("this process leads %s", name)
                self._flags[name].set()
        return self.retry_interval

    async def on_outage(self, error: BaseException) -> None:
        await self.close()

    async def close(self) -> None:
        """Closing the connection releases every lock at once: a standby takes over now."""
        for flag in self._flags.values():
            flag.clear()
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()
