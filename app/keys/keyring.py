"""Keys resolved in memory, so a request costs a dict lookup rather than a query.

An entry lives until any key changes anywhere (the store's NOTIFY clears the ring) or for
``POSITIVE_TTL`` at most, in case a notification was lost while the listener reconnected.
Unknown keys are remembered briefly too, so a client hammering with a bad key costs no
queries, yet a key created a moment ago is usable at once (creation clears the ring).
"""

from __future__ import annotations

import time

from app.keys.material import key_hash
from app.keys.store import KeyStore, Principal

POSITIVE_TTL = 60.0
NEGATIVE_TTL = 5.0
MAX_ENTRIES = 10_000


class KeyRing:
    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._known: dict[str, tuple[Principal | None, float]] = {}

    async def resolve(self, key: str) -> Principal | None:
        digest = key_hash(key)
        now = time.monotonic()
        cached = self._known.get(digest)
        if cached is not None and cached[1] > now:
            return cached[0]
        principal = await self.store.lookup(key)
        if len(self._known) >= MAX_ENTRIES:
            self._known.clear()
        self._known[digest] = (principal, now + (POSITIVE_TTL if principal else NEGATIVE_TTL))
        return principal

    def forget_all(self, _payload: str = "") -> None:
        self._known.clear()
