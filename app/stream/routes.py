"""The log, out: ``GET /events`` (pages by seq) and ``WS /ws/events`` (catch-up, then live)."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Query, Response, WebSocket
from pydantic import BaseModel, Field, StringConstraints

from app.api.problems import problem_response, problem_responses
from app.api.refusals import refuse
from app.api.text import NO_NUL
from app.db.outages import OUTAGE_ERRORS
from app.journal.cloudevents import CloudEvent
from app.keys.auth import principal_of
from app.relay.log import LogFilter
from app.runtime import Runtime, RuntimeDep
from app.stream.subscription import Subscription

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
    runtime: RuntimeDep,
    types: Types = [],  # noqa: B006 - FastAPI copies query defaults
    after: Annotated[int, Query(ge=0, description="Only events with a larger seq.")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    entity_type: EntityType = None,
    entity_id: EntityIdFilter = None,
) -> LogPage:
    event_log = runtime.log
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
    runtime: RuntimeDep,
    types: Types = [],  # noqa: B006
    after: Annotated[int | None, Query(ge=0)] = None,
    entity_type: EntityType = None,
    entity_id: EntityIdFilter = None,
) -> None:
    """Protocol: openapi/asyncapi.yaml."""
    key_id = principal_of(websocket.scope).key_id  # type: ignore[union-attr]
    if runtime.sockets.full_for(key_id):
        await refuse_socket(websocket, too_many_sockets(websocket, runtime.sockets.per_key))
        return
    try:  # before accepting: a socket that cannot know the head is refused, not half-opened
        head = await runtime.hub.attach()
    except OUTAGE_ERRORS as error:
        log.warning("WebSocket refused: database unavailable (%s)", error)
        await refuse_socket(websocket, database_down(websocket))
        return
    subscription = Subscription(
        websocket=websocket,
        hub=runtime.hub,
        cursor=head if after is None else after,
        wanted=LogFilter(frozenset(types), entity_type, entity_id),
        settings=runtime.settings.stream,
        poll_interval=runtime.settings.background.poll_seconds,
        key_id=key_id,
    )
    await serve_socket(websocket, runtime, subscription)


async def serve_socket(websocket: WebSocket, runtime: Runtime, subscription: Subscription) -> None:
    runtime.sockets.add(subscription)
    try:
        await websocket.accept()
        await subscription.run()
    finally:
        runtime.hub.detach()
        runtime.sockets.discard(subscription)


async def refuse_socket(websocket: WebSocket, answer: Response) -> None:
    await refuse(websocket.scope, websocket.receive, websocket.send, answer)


def too_many_sockets(websocket: WebSocket, allowed: int) -> Response:
    return problem_response(
        None,
        429,
        "too-many-connections",
        "Too many connections",
        f"this key holds {allowed} WebSocket connections here already",
        {"Retry-After": "5"},
        instance=websocket.url.path,
    )


def database_down(websocket: WebSocket) -> Response:
    return problem_response(
        None,
        503,
        "database-unavailable",
        "Database unavailable",
        "the log cannot be read now; connect again shortly",
        {"Retry-After": "2"},
        instance=websocket.url.path,
    )
