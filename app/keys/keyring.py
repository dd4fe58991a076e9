"""Keys resolved in memory, so a request costs a dict lookup rather than a query.

Only keys that resolved to a live principal are kept: an unknown key is never cached, so
nobody can fill the ring with made-up keys and push out the real ones (failed lookups are
throttled per client address instead, see ``app.keys.ratelimit.FailureThrottle``). An entry
lives until any key changes anywhere (the store's NOTIFY clears the ring) or for
``POSITIVE_TTL`` at most, in case a notification was lost while the listener reconnected.
"""

from __future__ import annotations

import time

from app.keys.store import KeyStore, Principal

POSITIVE_TTL = 60.0
VOUCHED_TTL = 3600.0
MAX_ENTRIES = 10_000  # only valid keys get in: more is a deployment with very many keys


class KeyRing:
    """Keyed by the presented key itself (this process's memory already holds it while the
    request runs), so a hit costs one dict lookup and no hashing."""

    def __init__(self, store: KeyStore) -> None:
        self.store = store
        self._known: dict[str, tuple[Principal, float]] = {}
        # Keys that were valid lately. Not a credential (a vouched key is still looked up):
        # it only spares a real key the failure throttle of an address that others share.
        self._vouched: dict[str, float] = {}

    def cached(self, key: str) -> Principal | None:
        """The principal if the ring holds the key; None: ask ``resolve``."""
        entry = self._known.get(key)
        if entry is None or entry[1] <= time.monotonic():
            return None
        return entry[0]

    async def resolve(self, key: str) -> Principal | None:
        """The key's principal from the store (None: unknown or revoked); raises what the
        database raises in an outage."""
        principal = self.cached(key) or await self.store.lookup(key)
        if principal is not None:
            now = time.monotonic()
            for entries in (self._known, self._vouched):
                if len(entries) >= MAX_ENTRIES:
                    entries.clear()
            self._known[key] = (principal, now + POSITIVE_TTL)
            self._vouched[key] = now + VOUCHED_TTL
        return principal

    def vouched(self, key: str) -> bool:
        """Whether the key was valid lately (it may have been revoked since)."""
        return self._vouched.get(key, 0.0) > time.monotonic()

    def forget_all(self, _payload: str = "") -> None:
        self._known.clear()
