"""The WebSocket subscribers this process serves: counted per key, told when to leave.

One place holds them so the per-key limit, a graceful shutdown (1001 to each, with where to
resume) and a key's revocation (4401) all see the same sockets.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

from app.stream.subscription import Subscription


class OpenSockets:
    def __init__(self, per_key: int) -> None:
        self.per_key = per_key
        self._open: set[Subscription] = set()
        self._per_key: Counter[uuid.UUID] = Counter()

    def __len__(self) -> int:
        return len(self._open)

    def __iter__(self) -> Iterator[Subscription]:
        return iter(list(self._open))

    def full_for(self, key_id: uuid.UUID) -> bool:
        return self._per_key[key_id] >= self.per_key

    def add(self, subscription: Subscription) -> None:
        self._open.add(subscription)
        if subscription.key_id is not None:
            self._per_key[subscription.key_id] += 1

    def discard(self, subscription: Subscription) -> None:
        if subscription not in self._open:
            return
        self._open.discard(subscription)
        key_id = subscription.key_id
        if key_id is not None:
            self._per_key[key_id] -= 1
            if self._per_key[key_id] <= 0:
                del self._per_key[key_id]
