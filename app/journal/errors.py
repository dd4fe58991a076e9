"""Outcomes of a command that are not a success; the HTTP layer maps each to a problem."""

from __future__ import annotations

from typing import Any, ClassVar

import psycopg
import psycopg_pool

# What the API answers 503 for: nothing was changed, the client may retry.
_DATABASE_UNAVAILABLE = (psycopg.OperationalError, psycopg_pool.PoolTimeout)


class CommandError(Exception):
    """Base: a command that changed nothing."""

    outcome: ClassVar[str] = "invalid"  # how it ended, as metrics count it


class UnknownEntityType(CommandError):
    outcome = "not_found"

    def __init__(self, entity_type: str) -> None:
        super().__init__(f"there is no entity type {entity_type!r}")
        self.entity_type = entity_type


class UnknownCommand(CommandError):
    outcome = "not_found"

    def __init__(self, entity_type: str, command: str) -> None:
        super().__init__(f"entity type {entity_type!r} has no command {command!r}")
        self.entity_type, self.command = entity_type, command


class EntityNotFound(CommandError):
    outcome = "not_found"

    def __init__(self, entity_type: str, entity_id: str) -> None:
        super().__init__(f"{entity_type} {entity_id!r} has no events")


class CommandRejected(CommandError):
    """The entity refused the command (its handler raised Rejection)."""

    outcome = "rejected"

    def __init__(self, reason: str, *, version: int, detail: dict[str, Any]) -> None:
        super().__init__(reason)
        self.reason, self.version, self.detail = reason, version, detail


class VersionMismatch(CommandError):
    """If-Match named another version than the entity's current one."""

    outcome = "conflict"

    def __init__(self, *, expected: int | str, current: int) -> None:
        if expected == "*":
            message = "If-Match: * asks for an entity that exists; this one has no events"
        else:
            message = f"If-Match expected version {expected}, the entity is at {current}"
        super().__init__(message)
        self.expected, self.current = expected, current


class ContentionExhausted(CommandError):
    """Writers elsewhere kept winning the race for this entity; the client may retry."""

    outcome = "contention"

    def __init__(self, attempts: int) -> None:
        super().__init__(f"lost the race for this entity {attempts} times; retry later")
        self.attempts = attempts


class IdempotencyKeyReused(CommandError):
    outcome = "key_reused"

    def __init__(self, key: str) -> None:
        super().__init__(
            f"Idempotency-Key {key!r} was already used for a different request; "
            "use a new key for a new request"
        )
        self.key = key


def outcome_of(error: Exception) -> str:
    """A short, bounded name for how a failed command ended: a metric label, never a message."""
    if isinstance(error, CommandError):
        return error.outcome
    if isinstance(error, _DATABASE_UNAVAILABLE):
        return "unavailable"
    return "error"


class VersionConflict(Exception):
    """Raised by the journal: another writer appended this version first."""


class IdempotencyKeyTaken(Exception):
    """Raised by the journal: another request stored a reply under this key first."""
