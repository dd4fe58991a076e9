"""What must happen when keys change: reactions run in every process on the keys NOTIFY.

Revoking a key must reach what it already opened, not only its next request: open WebSockets
(closed) and webhook subscriptions it created (disabled). Each such reaction registers here;
every process runs them when it hears a key change, and after each listener reconnection
(a notification may have been missed), coalescing many changes into one run and retrying
through a database outage. Reactions are idempotent: several processes run them at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from app.db.outages import OUTAGE_ERRORS
from app.relay.background import cancel_and_wait

log = logging.getLogger("sluice.keys")

Reaction = Callable[[], Awaitable[object]]


class KeyChanges:
    def __init__(self, *, retry_interval: float = 1.0) -> None:
        self.retry_interval = retry_interval
        self._reactions: list[Reaction] = []
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def react(self, reaction: Reaction) -> None:
        self._reactions.append(reaction)

    def heard(self, _payload: str = "") -> None:
        """Keys changed somewhere (or may have): react soon. Many changes, one run."""
        self._changed.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="sluice-key-changes")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)

    async def _run(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            for reaction in self._reactions:
                try:
                    await reaction()
                except OUTAGE_ERRORS as error:
                    log.warning("cannot react to a key change (%s); retrying", error)
                    self._changed.set()
                    await asyncio.sleep(self.retry_interval)
                except Exception:
                    log.exception("reacting to a key change failed")
