"""When to try a failed delivery again: the schedule, jitter, and the receiver's Retry-After."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

DEFAULT_SCHEDULE = "5,300,1800,7200,18000,36000,36000"  # 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h
JITTER = 0.1  # +-10 %, so receivers that failed together are not retried together
MAX_RETRY_AFTER = 24 * 3600.0


def parse_schedule(text: str) -> tuple[float, ...]:
    delays = tuple(float(part) for part in text.split(",") if part.strip())
    if not delays or any(delay < 0 for delay in delays):
        raise ValueError(f"a retry schedule is comma-separated seconds >= 0, not {text!r}")
    return delays


def next_delay(
    schedule: tuple[float, ...], attempts: int, retry_after: float | None = None
) -> float | None:
    """Seconds until the next attempt after ``attempts`` failed ones; None: give up."""
    if attempts > len(schedule):
        return None
    delay = schedule[attempts - 1] * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = max(delay, min(retry_after, MAX_RETRY_AFTER))
    return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as seconds or as an HTTP date; anything unreadable is ignored (it is the
    receiver's text: ``str.isdigit`` alone accepts "²", which ``float`` refuses)."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, OverflowError, IndexError):  # garbled, or absurd offsets
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
