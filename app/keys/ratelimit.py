"""Token buckets: per API key for requests, per client address for failed authentications.

A burst is allowed; a sustained rate above the limit gets 429. Buckets live in each process:
with N processes a key may reach N times its rate. That keeps the check off the database (a
query per request would cost more than the command).
"""

from __future__ import annotations

import time
from collections.abc import Hashable
from dataclasses import dataclass

MAX_BUCKETS = 100_000  # past this, buckets that have refilled completely are dropped
# A rate is 0 (no limit) or within these bounds: below one request in 100 s the arithmetic
# of waiting stops meaning anything (5e-324/s once overflowed a Retry-After into a 500).
MIN_RATE = 0.01
MAX_RATE = 1_000_000.0


def check_rate(value: float) -> float:
    """``value`` if it is a usable requests-per-second limit, else a ValueError saying why."""
    if value != 0 and not MIN_RATE <= value <= MAX_RATE:
        raise ValueError(f"a rate limit is 0 (none) or between {MIN_RATE:g} and {MAX_RATE:g}/s")
    return value


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One bucket per key; ``take`` spends a token or says how long until one is due."""

    def __init__(self) -> None:
        self._buckets: dict[Hashable, _Bucket] = {}

    def take(self, key: Hashable, rate: float, burst: float) -> float:
        """0 when a token was taken, else seconds until one is due."""
        bucket = self._refilled(key, rate, burst)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / rate

    def peek(self, key: Hashable, rate: float, burst: float) -> float:
        """Seconds until a token is there (0: one is there now), taking nothing."""
        bucket = self._refilled(key, rate, burst)
        return 0.0 if bucket.tokens >= 1 else (1 - bucket.tokens) / rate

    def _refilled(self, key: Hashable, rate: float, burst: float) -> _Bucket:
        now = time.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._prune(now, rate, burst)
            bucket = self._buckets[key] = _Bucket(burst, now)
        bucket.tokens = min(burst, bucket.tokens + (now - bucket.updated) * rate)
        bucket.updated = now
        return bucket

    def _prune(self, now: float, rate: float, burst: float) -> None:
        """A full bucket holds nothing a new one would not: forget those. If none is full
        (a flood from very many keys at once), start over: limits reset, memory stays bound."""
        full = [
            key
            for key, bucket in self._buckets.items()
            if bucket.tokens + (now - bucket.updated) * rate >= burst
        ]
        for key in full:
            del self._buckets[key]
        if len(self._buckets) >= MAX_BUCKETS:
            self._buckets.clear()


class RateLimiter:
    """Requests per API key: the key's own rate, else the settings' rate and burst."""

    def __init__(self, per_second: float, burst: float) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets = TokenBuckets()

    def retry_after(self, key_id: Hashable, per_second: float | None = None) -> float:
        """0 when the request may go (a token is taken), else seconds until one is due."""
        rate = self.per_second if per_second is None else per_second
        if rate <= 0:
            return 0.0
        burst = max(self.burst, rate) if per_second is None else max(rate * 2, 1.0)
        return self._buckets.take(key_id, rate, burst)


class FailureThrottle:
    """Failed authentications per client address: guessing keys, or a client stuck with a
    revoked one, costs a database lookup each; past the burst, at most ``per_second``."""

    def __init__(self, per_second: float, burst: float) -> None:
        self.per_second = per_second
        self.burst = burst
        self._buckets = TokenBuckets()

    def retry_after(self, address: str) -> float:
        """Seconds this address must wait before its next lookup (0: go ahead)."""
        return self._buckets.peek(address, self.per_second, self.burst)

    def failed(self, address: str) -> None:
        self._buckets.take(address, self.per_second, self.burst)
