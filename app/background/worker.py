"""The one worker loop: wait for a NOTIFY or the poll interval, do a step, back off an outage.

Every background worker (the sequencer, the consumers, the timers, the webhook pump, the log
hub, the listener itself, leadership, housekeeping) is a ``PollingWorker`` that writes
``step()``; this file is the only place that loops. Its guarantees:

* **NOTIFY only wakes.** A step always reads the database for what there is to do, so a
  notification that is lost (a listener reconnecting, a full queue) delays work by one poll
  interval at most and never loses it. The waker is cleared *before* each step, so a
  notification that arrives while a step runs is kept and starts the next one at once.
* **Polling guarantees progress.** A step that found nothing returns ``None`` and the loop
  waits at most the poll interval; one that left work behind returns 0 and goes again.
* **An outage is not a bug.** A step that fails because the database cannot be reached is
  retried after a growing pause (0.1 s, doubling, capped by
  ``SLUICE_OUTAGE_BACKOFF_MAX_SECONDS``), after ``on_outage`` lets the worker drop what the
  outage made stale. Anything else a step raises is the worker's own to handle: the loop
  logs it and treats it like an outage rather than dying silently.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from app.background.settings import WorkerSettings
from app.background.tasks import cancel_and_wait, wait_for
from app.db.outages import OUTAGE_ERRORS

if TYPE_CHECKING:
    from app.background.listener import Listener

log = logging.getLogger("sluice.workers")

FIRST_BACKOFF_SECONDS = 0.1


class PollingWorker:
    """Subclasses set ``name`` and ``channels`` and write ``step``."""

    name = "worker"
    channels: tuple[str, ...] = ()  # NOTIFY channels that wake this worker

    def __init__(self, *, listener: Listener | None, settings: WorkerSettings) -> None:
        self.listener = listener
        self.poll_interval = settings.poll_seconds
        self.backoff_max = settings.outage_backoff_max_seconds
        self.outages = 0  # steps that met an outage, for tests and status
        self.steps = 0  # steps done: a test waits on this rather than on the clock
        self._waker = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def step(self) -> float | None:
        """One round of work. Returns when to step again: 0, at once (work is waiting);
        ``None``, after the poll interval; a number, after that many seconds. A NOTIFY on
        one of ``channels`` (or ``wake()``) cuts any wait short."""
        raise NotImplementedError

    async def on_outage(self, error: BaseException) -> None:
        """The database went away during a step: drop what that made stale (a connection,
        leadership, rows held in memory). The loop then backs off and steps again."""

    async def close(self) -> None:
        """The worker is stopping (after its last step): release what it holds."""

    def wake(self) -> None:
        """Step now rather than at the end of the current wait."""
        self._waker.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name=f"sluice-{self.name}")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def run(self) -> None:
        if self.listener is not None and self.channels:
            self._waker = self.listener.waker(*self.channels)
        backoff = FIRST_BACKOFF_SECONDS
        try:
            while True:
                self._waker.clear()  # before the step: a notification during it is kept
                try:
                    wait = await self.step()
                    self.steps += 1
                    backoff = FIRST_BACKOFF_SECONDS
                except OUTAGE_ERRORS as error:
                    wait, backoff = backoff, min(backoff * 2, self.backoff_max)
                    self.outages += 1
                    log.warning("%s: database unavailable (%s); retrying", self.name, error)
                    await self.on_outage(error)
                    await asyncio.sleep(wait)
                    continue
                except Exception as error:  # a bug in a step: shown, retried, never silent
                    wait, backoff = backoff, min(backoff * 2, self.backoff_max)
                    log.exception("%s: a step failed; retrying in %.1fs", self.name, wait)
                    await self.on_outage(error)
                    await asyncio.sleep(wait)
                    continue
                if wait != 0:
                    await wait_for(self._waker, self.poll_interval if wait is None else wait)
        finally:
            if self.listener is not None and self.channels:
                self.listener.forget(self._waker)
            await self.close()
