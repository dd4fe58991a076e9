"""The scopes a key can hold, and what each one lets its holder do."""

from __future__ import annotations

import re
from enum import StrEnum


class Scope(StrEnum):
    COMMANDS_WRITE = "commands:write"  # run commands on entities
    EVENTS_READ = "events:read"  # the log, entity state and history, the WebSocket stream
    VIEWS_READ = "views:read"  # query read models and see their status
    WEBHOOKS_MANAGE = "webhooks:manage"  # subscriptions, deliveries, replays
    STREAMS_READ = "streams:read"  # every public stream (streams:read:<id>: that one only)
    ADMIN = "admin"  # everything, plus keys, consumers, rebuilds and metrics


COMMANDS_WRITE = Scope.COMMANDS_WRITE.value
EVENTS_READ = Scope.EVENTS_READ.value
VIEWS_READ = Scope.VIEWS_READ.value
WEBHOOKS_MANAGE = Scope.WEBHOOKS_MANAGE.value
STREAMS_READ = Scope.STREAMS_READ.value
ADMIN = Scope.ADMIN.value
ALL_SCOPES = tuple(scope.value for scope in Scope)
# One public stream: what another service is given to read just that stream.
ONE_STREAM = re.compile(r"^streams:read:[a-z][a-z0-9-]{0,62}$")


def stream_scope(stream_id: str) -> str:
    return f"{STREAMS_READ}:{stream_id}"


def grants(held: frozenset[str], needed: str) -> bool:
    """Whether scopes ``held`` allow ``needed``: admin allows everything, streams:read every
    streams:read:<id>."""
    if needed in held or ADMIN in held:
        return True
    return ONE_STREAM.match(needed) is not None and STREAMS_READ in held


def parse_scopes(values: list[str] | str) -> tuple[str, ...]:
    """Known scopes, deduplicated in a stable order; an unknown one is a ValueError."""
    items = values.split(",") if isinstance(values, str) else values
    wanted = {item.strip() for item in items if item.strip()}
    unknown = {scope for scope in wanted - set(ALL_SCOPES) if not ONE_STREAM.match(scope)}
    if unknown:
        raise ValueError(
            f"unknown scope(s) {', '.join(sorted(unknown))}; known: {', '.join(ALL_SCOPES)},"
            " streams:read:<stream id>"
        )
    if not wanted:
        raise ValueError("a key needs at least one scope")
    streams = sorted(scope for scope in wanted if ONE_STREAM.match(scope))
    return (*(scope for scope in ALL_SCOPES if scope in wanted), *streams)
