"""Public streams over HTTP: ``GET /streams``, ``GET /streams/{id}``, ``WS /ws/streams/{id}``.

Each stream has routes of its own, so the OpenAPI document names the scope each one needs
(``streams:read:<id>``; ``streams:read`` reads every stream). A stream id that does not exist
is a 404 problem, on a WebSocket too (refused before accept).
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, Security, WebSocket
from pydantic import BaseModel, Field
from pydantic_core import to_json

from app.api.problems import ProblemError, problem_response, problem_responses
from app.background.tasks import first_of
from app.db.outages import OUTAGE_ERRORS
from app.journal.cloudevents import CloudEvent
from app.keys.auth import api_key, check_scopes, principal_of, require
from app.keys.scopes import stream_scope
from app.public.asyncapi import asyncapi_document
from app.public.reader import CursorAhead, PublicStream, PublisherFailed, StreamPage
from app.public.socket import StreamSocket
from app.relay.log import LogFilter
from app.runtime import Runtime, RuntimeDep, runtime_of
from app.sdk.service import Service
from app.sdk.streams import Stream
from app.stream.routes import (
    EntityIdFilter,
    Types,
    database_down,
    refuse_socket,
    serve_socket,
    too_many_sockets,
)

log = logging.getLogger("sluice.public")

MAX_WAIT_SECONDS = 30.0


class PublicType(BaseModel):
    type: str = Field(description="The public type's stable name (CloudEvents `type`).")
    schema_version: int
    json_schema: dict[str, Any] = Field(alias="schema", description="Its `data`'s JSON Schema.")


class StreamInfo(BaseModel):
    id: str
    description: str
    types: list[PublicType]
    path: str = Field(description="Pages: GET here with ?after=<seq>.")
    websocket: str = Field(description="Catch-up then live: WS here with ?after=<seq>.")


class StreamPageOut(BaseModel):
    events: list[CloudEvent]
    next_after: int = Field(description="The last seq examined: pass it as ?after= next.")
    head: int = Field(description="The producer's log head when the page was read.")


def describe(stream: Stream) -> StreamInfo:
    types = [
        PublicType(type=name, schema_version=model.schema_version, schema=model.model_json_schema())
        for name, model in sorted(stream.public_types.items())
    ]
    return StreamInfo(
        id=stream.id,
        description=stream.description,
        types=types,
        path=f"/streams/{stream.id}",
        websocket=f"/ws/streams/{stream.id}",
    )


def add_stream_routes(router: APIRouter, service: Service) -> None:
    router.add_api_route(
        "/streams",
        _list_endpoint(service),
        methods=["GET"],
        summary="The public streams this key may read, with their types and JSON Schemas",
        tags=["streams"],
        response_model=list[StreamInfo],
        dependencies=[_any_key()],
    )
    router.add_api_route(
        "/asyncapi.json",
        _asyncapi_endpoint(service),
        methods=["GET"],
        summary="The public streams as an AsyncAPI 3.0 document (their WebSocket channels)",
        tags=["streams"],
        dependencies=[_any_key()],
    )
    for stream in service.stream_types.values():
        _add_stream(router, stream)
    router.add_api_route(
        "/streams/{stream_id}",
        _unknown_endpoint(service),
        methods=["GET"],
        include_in_schema=False,
    )
    router.add_api_websocket_route("/ws/streams/{stream_id}", _unknown_socket(service))


def _any_key() -> Any:
    """Documented as ``streams:read``; a key holding only ``streams:read:<id>`` may list too
    (it sees its streams), so the endpoint checks, not the dependency."""
    return Security(api_key, scopes=["streams:read"])


def _asyncapi_endpoint(service: Service) -> Any:
    async def asyncapi(request: Request, runtime: RuntimeDep) -> dict[str, Any]:
        """The channels of the streams this key may read."""
        return asyncapi_document(_readable(request, service), runtime.service_name)

    return asyncapi


def _readable(request: Request, service: Service) -> list[Stream]:
    """The streams the caller's key may read; none at all is a 403 naming the scope."""
    principal = check_scopes(request.scope)
    readable = [s for s in service.stream_types.values() if principal.allows(stream_scope(s.id))]
    if service.stream_types and not readable:
        check_scopes(request.scope, "streams:read")  # the 403 names what is missing
    return readable


def _list_endpoint(service: Service) -> Any:
    async def list_streams(request: Request) -> list[StreamInfo]:
        return [describe(stream) for stream in _readable(request, service)]

    return list_streams


def _add_stream(router: APIRouter, stream: Stream) -> None:
    scope = stream_scope(stream.id)
    router.add_api_route(
        f"/streams/{stream.id}",
        _page_endpoint(stream.id),
        methods=["GET"],
        name=f"stream {stream.id}",
        operation_id=f"read_stream_{stream.id.replace('-', '_')}",
        summary=stream.description or f"The public stream {stream.id}, as CloudEvents",
        tags=["streams"],
        response_model=StreamPageOut,
        responses=problem_responses(400, 422, 503),
        dependencies=[require(scope)],
    )
    router.add_api_websocket_route(
        f"/ws/streams/{stream.id}", _socket_endpoint(stream.id), dependencies=[require(scope)]
    )


def _page_endpoint(stream_id: str) -> Any:
    async def read_stream(
        runtime: RuntimeDep,
        after: Annotated[int, Query(ge=0, description="Only events with a larger seq.")] = 0,
        limit: Annotated[int, Query(ge=1, le=5000)] = 100,
        upto: Annotated[int | None, Query(ge=0, description="Only events up to this seq.")] = None,
        wait: Annotated[
            float,
            Query(ge=0, le=MAX_WAIT_SECONDS, description="Caught up? Wait this long for more."),
        ] = 0,
    ) -> Response:
        reader = runtime.public[stream_id]
        if wait > 0 and upto is None:
            await _wait_beyond(runtime, after, wait)
        try:
            page = await reader.page(after, limit, upto)
        except CursorAhead as ahead:
            raise ProblemError(
                400, "cursor-ahead", "Cursor ahead of the stream", str(ahead)
            ) from None
        except PublisherFailed as failed:
            raise ProblemError(
                500, "publisher-failed", "The stream cannot be published", str(failed)
            ) from None
        return page_response(page)

    return read_stream


def page_response(page: StreamPage) -> Response:
    """The page's JSON, each event serialised once by pydantic-core (no response model
    validation on the way out: a catch-up page holds thousands)."""
    body = {"events": page.events, "next_after": page.next_after, "head": page.head}
    return Response(to_json(body), media_type="application/json")


async def _wait_beyond(runtime: Runtime, after: int, seconds: float) -> None:
    """A long poll: return once the log moves past ``after``, the wait is over, or the
    process begins to stop (a reader asks again, of this process's successor)."""
    await runtime.hub.attach()
    try:
        await first_of(runtime.hub.wait_beyond(after, seconds), runtime.stopping.wait())
    finally:
        runtime.hub.detach()


def _socket_endpoint(stream_id: str) -> Any:
    async def stream_socket(
        websocket: WebSocket,
        types: Types = [],  # noqa: B006 - FastAPI copies query defaults
        after: Annotated[int | None, Query(ge=0)] = None,
        entity_id: EntityIdFilter = None,
    ) -> None:
        """Protocol: the AsyncAPI document (GET /asyncapi.json)."""
        runtime = runtime_of(websocket.scope)
        refusal = await _refusal(websocket, runtime, after)
        if refusal is not None:
            await refuse_socket(websocket, refusal)
            return
        socket = StreamSocket(
            websocket=websocket,
            hub=runtime.hub,
            cursor=runtime.hub.head if after is None else after,
            wanted=LogFilter(frozenset(types), None, entity_id),
            settings=runtime.settings.stream,
            poll_interval=runtime.settings.background.poll_seconds,
            key_id=principal_of(websocket.scope).key_id,  # type: ignore[union-attr]
            scope=stream_scope(stream_id),
            reader=runtime.public[stream_id],
        )
        await serve_socket(websocket, runtime, socket)

    return stream_socket


async def _refusal(websocket: WebSocket, runtime: Runtime, after: int | None) -> Any:
    """Why this socket cannot be served (an HTTP answer before accept), or None; when None,
    the hub is attached (``serve_socket`` detaches it)."""
    key_id = principal_of(websocket.scope).key_id  # type: ignore[union-attr]
    if runtime.sockets.full_for(key_id):
        return too_many_sockets(websocket, runtime.sockets.per_key)
    try:
        head = await runtime.hub.attach()
    except OUTAGE_ERRORS as error:
        log.warning("stream WebSocket refused: database unavailable (%s)", error)
        return database_down(websocket)
    if after is not None and after > head:
        runtime.hub.detach()
        detail = f"after={after} is beyond the head of the stream (seq {head})"
        return problem_response(
            None,
            400,
            "cursor-ahead",
            "Cursor ahead of the stream",
            detail,
            instance=websocket.url.path,
        )
    return None


def _unknown(service: Service, stream_id: str, path: str) -> Any:
    known = ", ".join(sorted(service.stream_types)) or "none"
    detail = f"no public stream {stream_id!r} (this service's streams: {known})"
    return problem_response(None, 404, "unknown-stream", "Unknown stream", detail, instance=path)


def _unknown_endpoint(service: Service) -> Any:
    async def unknown_stream(request: Request, stream_id: str) -> Any:
        return _unknown(service, stream_id, request.url.path)

    return unknown_stream


def _unknown_socket(service: Service) -> Any:
    async def unknown_stream_socket(websocket: WebSocket, stream_id: str) -> None:
        await refuse_socket(websocket, _unknown(service, stream_id, websocket.url.path))

    return unknown_stream_socket


def public_streams(service: Service, event_log: Any, service_name: str) -> dict[str, PublicStream]:
    return {
        stream.id: PublicStream(stream, service, event_log, service_name)
        for stream in service.stream_types.values()
    }
