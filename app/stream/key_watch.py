"""Open WebSockets answer to the key that opened them.

A revoked key stops opening sockets at once (the key ring is cleared on the keys NOTIFY),
but a socket already open would keep streaming. So whenever keys change (``KeyChanges``
runs this in every process), the keys behind this process's open sockets are looked up and
the sockets whose key was revoked, or no longer holds the stream's scope, are closed with
4401 and the seq to resume after.
"""

from __future__ import annotations

import logging

from app.keys.store import KeyStore
from app.stream.sockets import OpenSockets
from app.stream.subscription import KEY_REVOKED

log = logging.getLogger("sluice.stream")


class SocketKeyWatch:
    def __init__(self, store: KeyStore, sockets: OpenSockets) -> None:
        self.store = store
        self.sockets = sockets

    async def recheck(self) -> int:
        """Close the sockets whose key may no longer read the stream; returns how many."""
        open_now = [s for s in self.sockets if s.key_id is not None]
        if not open_now:
            return 0
        active = await self.store.active(list({s.key_id for s in open_now}))  # type: ignore[misc]
        closed = 0
        for subscription in open_now:
            principal = active.get(subscription.key_id)  # type: ignore[arg-type]
            if principal is None or not principal.allows(subscription.scope):
                subscription.end(KEY_REVOKED)
                closed += 1
        if closed:
            log.info("closed %d WebSocket(s) whose key was revoked or lost its scope", closed)
        return closed
