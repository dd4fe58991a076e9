"""The scopes a key can hold, and what each one lets its holder do."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    COMMANDS_WRITE = "commands:write"  # run commands on entities
    EVENTS_READ = "events:read"  # the log, entity state and history, the WebSocket stream
    VIEWS_READ = "views:read"  # query read models and see their status
    WEBHOOKS_MANAGE = "webhooks:manage"  # subscriptions, deliveries, replays
    ADMIN = "admin"  # everything, plus keys, consumers, rebuilds and metrics


COMMANDS_WRITE = Scope.COMMANDS_WRITE.value
EVENTS_READ = Scope.EVENTS_READ.value
VIEWS_READ = Scope.VIEWS_READ.value
WEBHOOKS_MANAGE = Scope.WEBHOOKS_MANAGE.value
ADMIN = Scope.ADMIN.value
ALL_SCOPES = tuple(scope.value for scope in Scope)


def parse_scopes(values: list[str] | str) -> tuple[str, ...]:
    """Known scopes, deduplicated in a stable order; an unknown one is a ValueError."""
    items = values.split(",") if isinstance(values, str) else values
    wanted = {item.strip() for item in items if item.strip()}
    unknown = wanted - set(ALL_SCOPES)
    if unknown:
        raise ValueError(
            f"unknown scope(s) {', '.join(sorted(unknown))}; known: {', '.join(ALL_SCOPES)}"
        )
    if not wanted:
        raise ValueError("a key needs at least one scope")
    return tuple(scope for scope in ALL_SCOPES if scope in wanted)
