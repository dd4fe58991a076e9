"""The log, out: ``GET /events`` (pages by seq) and ``WS /ws/events`` (catch-up, then live)."""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, WebSocket
from pydantic import BaseModel, Field, StringConstraints

from app.api.auth import principal_of
from app.api.problems import problem_response, problem_responses
from app.api.refusals import refuse
from app.api.text import NO_NUL
from app.db.outages import OUTAGE_ERRORS
from app.journal.cloudevents import CloudEvent
from app.stream.hub import LogHub
from app.stream.log import EventLog, LogFilter
from app.stream.subscription import Subscription, SubscriptionLimits

router = APIRouter(tags=["log"])
log = logging.getLogger("sluice.stream")

Types = Annotated[
    list[Annotated[str, StringConstraints(pattern=NO_NUL)]],
    Query(
        alias="type",
        max_length=100,
        description="CloudEvents types to keep, e.g. patient.VitalsRecorded (repeatable).",
    ),
]
EntityType = Annotated[str | None, Query(max_length=100, pattern=NO_NUL)]
EntityIdFilter = Annotated[str | None, Query(max_length=200, pattern=NO_NUL)]


class LogPage(BaseModel):
    events: list[CloudEvent]
    next_after: int = Field(description="Pass as ?after= for the next page.")
    head: int = Field(description="The log's last seq when this page was read.")


@router.get(
    "/events",
    summary="The event log, in seq order, as CloudEvents",
    response_model=LogPage,
    responses=problem_responses(422),
)
async def read_events(
    request: Request,
    types: Types = [],  # noqa: B006 - FastAPI copies query defaults
    after: Annotated[int, Query(ge=0, description="Only events with a larger seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    entity_type: EntityType = None,
    entity_id: EntityIdFilter = None,
) -> LogPage:
    event_log: EventLog = request.app.state.event_log
    head = await event_log.head()  # read first: nothing past it is skipped by next_after
    wanted = LogFilter(frozenset(types), entity_type, entity_id)
    events = await event_log.read(after, limit, wanted)
    if len(events) == limit:
        next_after = events[-1].seq or after
    else:  # nothing else matches up to head: a filtered reader may jump there
        next_after = max(head, events[-1].seq or after) if events else max(head, after)
    return LogPage(events=events, next_after=next_after, head=head)


@router.websocket("/ws/events")
async def stream_events(
    websocket: WebSocket,
    types: Types = [],  # noqa: B006
    after: Annotated[int | None, Query(ge=0)] = None,
    entity_type: EntityType = None,
    entity_id: EntityIdFilter = None,
) -> None:
    """Protocol: openapi/asyncapi.yaml."""
    hub = websocket.app.state.hub
    limits: SubscriptionLimits = websocket.app.state.subscription_limits
    key_id = principal_of(websocket.scope).key_id  # type: ignore[union-attr]
    clients: Counter[uuid.UUID] = websocket.app.state.ws_clients
    allowed: int = websocket.app.state.ws_clients_per_key
    if clients[key_id] >= allowed:
        too_many = problem_response(
            None,
            429,
            "too-many-connections",
            "Too many connections",
            f"this key holds {allowed} WebSocket connections here already",
            {"Retry-After": "5"},
            instance=websocket.url.path,
        )
        await refuse(websocket.scope, websocket.receive, websocket.send, too_many)
        return
    clients[key_id] += 1
    try:
        await _stream(websocket, hub, limits, types, after, entity_type, entity_id, key_id)
    finally:
        clients[key_id] -= 1
        if clients[key_id] <= 0:
            del clients[key_id]


async def _stream(
    websocket: WebSocket,
    hub: LogHub,
    limits: SubscriptionLimits,
    types: list[str],
    after: int | None,
    entity_type: str | None,
    entity_id: str | None,
    key_id: uuid.UUID,
) -> None:
    try:  # before accepting: a socket that cannot know the head is refused, not half-opened
        head = await hub.attach()
    except OUTAGE_ERRORS as error:
        log.warning("WebSocket refused: database unavailable (%s)", error)
        await refuse(websocket.scope, websocket.receive, websocket.send, _database_down(websocket))
        return
    subscription = Subscription(
        websocket=websocket,
        hub=hub,
        cursor=head if after is None else after,
        wanted=LogFilter(frozenset(types), entity_type, entity_id),
        limits=limits,
        key_id=key_id,
    )
    subscriptions: set[Subscription] = websocket.app.state.subscriptions
    subscriptions.add(subscription)
    try:
        await websocket.accept()
        await subscription.run()
    finally:
        hub.detach()
        subscriptions.discard(subscription)


def _database_down(websocket: WebSocket) -> Response:
    return problem_response(
        None,
        503,
        "database-unavailable",
        "Database unavailable",
        "the log cannot be read now; connect again shortly",
        {"Retry-After": "2"},
        instance=websocket.url.path,
    )
