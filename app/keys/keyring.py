"""Keys resolved in memory, so a request costs a dict lookup rather than a query.

An entry lives until any key changes anywhere (the store's NOTIFY clears the ring) or for
``POSITIVE_TTL`` at most, in case a notification was lost while the listener reconnected.
Unknown keys are remembered briefly too, so a client hammering with a bad key costs no
queries, yet a key created a moment ago is usable at once (creation clears the ring).
"""

from __future__ import annotations

import time

from app.keys.store import KeyStore, Principal

POSITIVE_TTL = 60.0
NEGATIVE_TTL = 5.0
MAX_ENTRIES = 10_000


UNKNOWN = object()  # not in the ring (or expired): ask the store


class KeyRing:
    """Keyed by the presented key itself (this process's memory already holds it while the
    request runs), so a hit costs one dict lookup and no hashing."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._known: dict[str, tuple[Principal | None, float]] = {}

    def cached(self, key: str) -> Principal | object | None:
        """The principal (or None: refused) if the ring knows; ``UNKNOWN`` otherwise."""
        entry = self._known.get(key)
        if entry is None or entry[1] <= time.monotonic():
            return UNKNOWN
        return entry[0]

    async def resolve(self, key: str) -> Principal | None:
        found = self.cached(key)
        if found is not UNKNOWN:
            return found  # type: ignore[return-value]
        principal = await self.store.lookup(key)
        if len(self._known) >= MAX_ENTRIES:
            self._known.clear()
        ttl = POSITIVE_TTL if principal else NEGATIVE_TTL
        self._known[key] = (principal, time.monotonic() + ttl)
        return principal

    def forget_all(self, _payload: str = "") -> None:
        self._known.clear()
