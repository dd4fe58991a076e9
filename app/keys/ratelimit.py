"""Per-key token buckets: a burst is allowed, a sustained rate above the limit gets 429.

Buckets live in each process: with N processes a key may reach N times its rate. That keeps
the check off the database (a query per request would cost more than the command).
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    def __init__(self, per_second: float, burst: float) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets: dict[uuid.UUID, _Bucket] = {}

    def retry_after(self, key_id: uuid.UUID, per_second: float | None = None) -> float:
        """0 when the request may go (a token is taken), else seconds until one is due."""
        rate = self.per_second if per_second is None else per_second
        if rate <= 0:
            return 0.0
        burst = max(self.burst, rate) if per_second is None else max(rate * 2, 1.0)
        now = time.monotonic()
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate
