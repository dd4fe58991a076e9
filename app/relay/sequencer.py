"""The sequencer: the one process that numbers committed outbox rows into the public log.

Leadership is a PostgreSQL advisory lock held by a dedicated connection, and sequencing runs
on that same connection: if the connection (or the process) dies, the lock and any
half-done batch go with it, and a standby takes over at its next try (every
``SLUICE_LEADER_RETRY_SECONDS``). A standby waits for the lock without listening: it is
woken by nothing but its own timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass

from psycopg import AsyncConnection

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.background.worker import PollingWorker
from app.db.locks import TRY_LOCK
from app.journal.sql import OUTBOX_CHANNEL
from app.relay import sql
from app.relay.settings import SequencerSettings

log = logging.getLogger("sluice.relay")
steps = logging.getLogger("sluice.steps")


@dataclass
class SequencerStats:
    batches: int = 0
    sequenced: int = 0
    head: int = 0
    leading: bool = False
    lock_tries: int = 0  # attempts to take the lead (a standby keeps trying)


class Sequencer(PollingWorker):
    name = "sequencer"
    channels = (OUTBOX_CHANNEL,)

    def __init__(
        self,
        conninfo: str,
        listener: Listener,
        settings: SequencerSettings,
        worker_settings: WorkerSettings,
        *,
        on_batch: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(listener=listener, settings=worker_settings)
        self.conninfo = conninfo
        self.batch_size = settings.batch_size
        self.standby_interval = worker_settings.leader_retry_seconds
        self.on_batch = on_batch  # told how many rows each batch numbered
        # Notifications carry the batch's rows only while the queue is under this share full
        # (see sql.SEQUENCE_BATCH); 0 sends the head alone.
        self.rows_in_notify_below = 0.01
        self.stats = SequencerStats()
        self._conn: AsyncConnection | None = None

    async def step(self) -> float | None:
        conn = self._conn or await self._connect()
        if not self.stats.leading:
            await self._wait_for_leadership(conn)
        taken = await self.sequence_once(conn)
        return 0 if taken else None

    async def _connect(self) -> AsyncConnection:
        self._conn = await AsyncConnection.connect(self.conninfo, autocommit=True)
        await self._conn.execute(sql.SESSION_SETUP)
        return self._conn

    async def _wait_for_leadership(self, conn: AsyncConnection) -> None:
        while True:
            row = await (await conn.execute(TRY_LOCK, [sql.SEQUENCER_LOCK])).fetchone()
            self.stats.lock_tries += 1
            if row and row[0]:
                self.stats.leading = True
                log.info("sequencer: this process leads")
                return
            await asyncio.sleep(self.standby_interval)

    async def on_outage(self, error: BaseException) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the connection: the lock is released at once for a standby."""
        if self.stats.leading:
            log.info("sequencer: leadership released")
        self.stats.leading = False
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await conn.close()

    async def sequence_once(self, conn: AsyncConnection) -> int:
        """Number one batch of committed outbox rows; returns how many were taken."""
        params = {"limit": self.batch_size, "queue_limit": self.rows_in_notify_below}
        cursor = await conn.execute(sql.SEQUENCE_BATCH, params)
        row = await cursor.fetchone()
        if row is None:
            return 0
        taken, head, _ = row
        if self.listener is not None:  # this process's hub need not wait for the NOTIFY
            self.listener.wake_local(sql.LOG_CHANNEL)
        self.stats.batches += 1
        self.stats.sequenced += taken
        self.stats.head = head
        if self.on_batch is not None:
            self.on_batch(int(taken))
        steps.info(
            "sequenced %d events up to seq %d",
            taken,
            head,
            extra={"fields": {"step": "sequence", "events": taken, "head": head}},
        )
        return int(taken)
