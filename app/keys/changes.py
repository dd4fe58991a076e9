"""What must happen when keys change: reactions run in every process on the keys NOTIFY.

Revoking a key must reach what it already opened, not only its next request: open WebSockets
(closed) and webhook subscriptions it created (disabled). Each such reaction registers here;
every process runs them when it hears a key change, after each listener reconnection (a
notification may have been missed), and every ``RECHECK_SECONDS`` besides. Reactions are
idempotent: several processes run them at once.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.background.worker import PollingWorker
from app.keys.store import KEYS_CHANNEL

log = logging.getLogger("sluice.keys")

Reaction = Callable[[], Awaitable[object]]
RECHECK_SECONDS = 30.0


class KeyChanges(PollingWorker):
    name = "key-changes"
    channels = (KEYS_CHANNEL,)

    def __init__(self, listener: Listener, settings: WorkerSettings) -> None:
        super().__init__(listener=listener, settings=settings)
        self._reactions: list[Reaction] = []

    def react(self, reaction: Reaction) -> None:
        self._reactions.append(reaction)

    async def step(self) -> float:
        for reaction in self._reactions:
            await reaction()
        return RECHECK_SECONDS
