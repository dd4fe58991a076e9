"""Commands for later: what an entity or an action asks the timer worker to send.

A timer is written in the same transaction as the events of the command that scheduled it,
so a command that fails schedules nothing and a committed one can never lose its timer.
Timers are named (``key``) per owner: scheduling a key again moves that timer, and
``CancelTimer(key)`` removes it, in the same transaction as the events that cancel it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from app.sdk.events import Command


@dataclass(frozen=True)
class Send:
    """A command for an entity: what an action returns, and what a timer fires."""

    entity_type: str
    entity_id: str
    command: str
    body: Command


@dataclass(frozen=True)
class Timer:
    """Send ``command`` to ``entity_type/entity_id`` at ``at`` (or ``after`` from now).

    From an entity's command handler, ``entity_type`` and ``entity_id`` default to the entity
    itself, so ``Timer("ack", "escalate", Escalate(...), after=timedelta(minutes=15))`` is a
    reminder the entity sends to itself.
    """

    key: str
    command: str
    body: Command
    at: datetime | None = None
    after: timedelta | None = None
    entity_type: str | None = None
    entity_id: str | None = None

    def __post_init__(self) -> None:
        if not self.key or len(self.key) > 200:
            raise ValueError("a timer's key is 1-200 characters")
        if (self.at is None) == (self.after is None):
            raise ValueError(f"timer {self.key!r}: give exactly one of at= or after=")
        if self.at is not None and self.at.tzinfo is None:
            raise ValueError(f"timer {self.key!r}: at= must be timezone-aware")

    def due_at(self, now: datetime | None = None) -> datetime:
        if self.at is not None:
            return self.at
        assert self.after is not None
        return (now or datetime.now(UTC)) + self.after


@dataclass(frozen=True)
class CancelTimer:
    """Cancel the owner's timer named ``key``; cancelling a timer that is gone is not an error."""

    key: str


TimerChange = Timer | CancelTimer
