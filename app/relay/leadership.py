"""Which consumers this process leads: advisory locks held by one connection per process.

Each consumer (a view's projector, an action, the webhook dispatcher) has a session advisory
lock; a process leads the consumers whose locks its ``Leadership`` connection holds. If the
process dies, PostgreSQL drops the connection and with it the locks, and a standby takes them
at its next try (every ``retry_interval`` seconds). A lost connection ends this process's
leadership at once: the workers see ``leading(name)`` turn false before their next batch.

Leadership is an efficiency, not the safety net: a view's batch also locks its checkpoint row
and checks its position, so two processes briefly believing they lead cannot both apply it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid

import psycopg

from app.relay.background import cancel_and_wait

log = logging.getLogger("sluice.relay")

CONSUMER_LOCK_NAMESPACE = 0x51CF
TRY_LOCK = "SELECT pg_try_advisory_lock(%s, hashtext(%s))"
UNLOCK = "SELECT pg_advisory_unlock(%s, hashtext(%s))"


def process_identity() -> str:
    """host:pid, and a short tag telling apart two apps in one process (as tests run them)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:4]}"


class Leadership:
    def __init__(self, conninfo: str, *, retry_interval: float = 1.0) -> None:
        self.conninfo = conninfo
        self.retry_interval = retry_interval
        self.identity = process_identity()
        self._flags: dict[str, asyncio.Event] = {}
        self._task: asyncio.Task[None] | None = None

    def want(self, name: str) -> None:
        self._flags.setdefault(name, asyncio.Event())

    def leading(self, name: str) -> bool:
        flag = self._flags.get(name)
        return flag is not None and flag.is_set()

    async def wait_leading(self, name: str) -> None:
        await self._flags[name].wait()

    def led(self) -> list[str]:
        return sorted(name for name, flag in self._flags.items() if flag.is_set())

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sluice-leadership")

    async def stop(self) -> None:
        """Closing the connection releases every lock at once: a standby takes over now."""
        await cancel_and_wait(self._task)
        self._lose_all()

    async def _run(self) -> None:
        delay = self.retry_interval
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    self.conninfo, autocommit=True
                ) as conn:
                    delay = self.retry_interval
                    while True:
                        await self._try_all(conn)
                        await asyncio.sleep(self.retry_interval)
            except (psycopg.Error, OSError) as error:
                log.warning("leadership connection lost (%s); retrying in %.1fs", error, delay)
            finally:
                self._lose_all()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)

    async def _try_all(self, conn: psycopg.AsyncConnection) -> None:
        """Try for what we do not lead; a query even when we lead everything, so a dead
        connection is noticed within one interval."""
        wanted = [name for name, flag in self._flags.items() if not flag.is_set()]
        if not wanted:
            await conn.execute("SELECT 1")
            return
        for name in wanted:
            row = await (await conn.execute(TRY_LOCK, [CONSUMER_LOCK_NAMESPACE, name])).fetchone()
            if row and row[0]:
                log.info("this process leads %s", name)
                self._flags[name].set()

    def _lose_all(self) -> None:
        for flag in self._flags.values():
            flag.clear()
