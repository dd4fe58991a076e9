"""Commands in: one typed route per command of every entity, plus state and history reads.

Each command gets its own route (not one generic route) so /openapi.json documents every
command's body. Routes only build a CommandRequest and hand it to the CommandRunner.
"""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError, create_model

from app.api.auth import require
from app.api.problems import ProblemError, problem_responses
from app.journal.cloudevents import CloudEvent, cloud_event
from app.journal.commands import CommandOutcome, CommandRequest, CommandRunner
from app.journal.correlation import command_metadata
from app.journal.errors import EntityNotFound, UnknownCommand, UnknownEntityType
from app.journal.results import CommandResult
from app.keys.scopes import COMMANDS_WRITE, EVENTS_READ
from app.sdk.entity import CommandSpec, EventSourcedEntity
from app.sdk.events import Command
from app.sdk.service import Service

ENTITY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@~-]{0,199}$"
EntityId = Annotated[
    str,
    Path(
        pattern=ENTITY_ID_PATTERN,
        description="The entity's id: 1-200 of letters, digits and . _ : @ ~ -",
    ),
]
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Same key and same body: the stored reply, no new events. Kept 24 h.",
    ),
]
IF_MATCH_PATTERN = r'^(?:W/)?"(\d{1,10})"$'
IfMatch = Annotated[
    str | None,
    Header(
        alias="If-Match",
        description='Run only if the entity is at this version: "3".',
        # Documented, checked by _expected_version: a malformed one is a 400, not a 422.
        json_schema_extra={"pattern": IF_MATCH_PATTERN},
    ),
]
CorrelationId = Annotated[
    str | None,
    Header(alias="X-Correlation-ID", max_length=200, description="Carried into event metadata."),
]
TraceParent = Annotated[
    str | None,
    Header(
        alias="traceparent",
        max_length=100,
        description="W3C trace context; stored with the events and carried downstream.",
    ),
]
_IF_MATCH = re.compile(IF_MATCH_PATTERN)


class EventPage(BaseModel):
    events: list[CloudEvent]
    next_after: int | None = None


def add_entity_routes(router: APIRouter, service: Service, service_name: str) -> None:
    """Add the routes straight onto ``router`` (the app's own): an included sub-router costs
    a second round of route matching on every request, measurable on the command path."""
    for entity in service.entity_types.values():
        tag = entity.name
        for spec in entity.commands.values():
            router.add_api_route(
                f"/entities/{entity.name}/{{entity_id}}/{spec.name}",
                _command_endpoint(entity, spec),
                methods=["POST"],
                name=f"{entity.name}.{spec.name}",
                summary=spec.summary or f"{spec.name} ({entity.name})",
                tags=[tag],
                response_model=CommandResult,
                responses=problem_responses(400, 404, 409, 413, 415, 422),
                dependencies=[require(COMMANDS_WRITE)],
            )
        state_model = _state_model(entity)
        router.add_api_route(
            f"/entities/{entity.name}/{{entity_id}}",
            _state_endpoint(entity, state_model),
            methods=["GET"],
            name=f"{entity.name}.state",
            summary=f"Current state of a {entity.name}",
            tags=[tag],
            response_model=state_model,
            responses=problem_responses(404, 422),
            dependencies=[require(EVENTS_READ)],
        )
        router.add_api_route(
            f"/entities/{entity.name}/{{entity_id}}/events",
            _history_endpoint(entity, service_name),
            methods=["GET"],
            name=f"{entity.name}.events",
            summary=f"Events of a {entity.name}, in order",
            tags=[tag],
            response_model=EventPage,
            responses=problem_responses(404, 422),
            dependencies=[require(EVENTS_READ)],
        )
    _add_unknown_routes(router, service)


async def require_json(content_type: str | None) -> None:
    """A command body is JSON; anything else is refused before it is parsed."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the command as JSON with Content-Type: application/json",
        )


def parse_command(spec: CommandSpec, body: bytes) -> Command:
    """A command's body, with JSON's types as documented: ``"95"`` or ``true`` is not an
    integer, whatever pydantic's lax mode would make of it. Strict JSON validation says so
    (and still takes strings for dates, UUIDs and enums), but it also refuses ``19.0`` for an
    integer, which JSON Schema counts as one: only then is the body read again, laxly."""
    try:
        command: Command = spec.model.model_validate_json(body, strict=True)
        return command
    except ValidationError as error:
        if not all(_integral_number(found) for found in error.errors()):
            raise _invalid_body(error) from None
    try:
        command = spec.model.model_validate_json(body)
    except ValidationError as error:
        raise _invalid_body(error) from None
    return command


def _integral_number(error: Any) -> bool:
    value = error.get("input")
    return error["type"] == "int_type" and isinstance(value, float) and value.is_integer()


def _invalid_body(error: ValidationError) -> RequestValidationError:
    found = error.errors(include_url=False, include_context=False)
    return RequestValidationError(
        [
            {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]}
            for e in found
            if not _integral_number(e)
        ]
    )


def _runner(request: Request) -> CommandRunner:
    runner: CommandRunner = request.app.state.runner
    return runner


def _expected_version(if_match: str | None) -> int | None:
    if if_match is None:
        return None
    found = _IF_MATCH.fullmatch(if_match.strip())
    if not found:
        raise ProblemError(
            400, "bad-if-match", "Malformed If-Match", 'If-Match takes a quoted version: "3"'
        )
    return int(found.group(1))


def _command_endpoint(entity: EventSourcedEntity[Any], spec: CommandSpec) -> Any:
    """A command route as FastAPI sees it: its signature is what /openapi.json documents.

    In the running app, CommandDispatch (app/journal/dispatch.py) answers these paths before
    FastAPI's routing, with the same parsing rules and the same ``run_command`` underneath;
    this endpoint serves any app assembled without that dispatcher.
    """
    model = spec.model

    async def command_endpoint(
        request: Request,
        entity_id: EntityId,
        command: model,  # type: ignore[valid-type]
        idempotency_key: IdempotencyKey = None,
        if_match: IfMatch = None,
        correlation_id: CorrelationId = None,
        traceparent: TraceParent = None,
    ) -> Response:
        await require_json(request.headers.get("content-type"))
        command = parse_command(spec, await request.body())  # strictly, as CommandDispatch
        outcome, correlation = await run_command(
            request.app.state.runner,
            entity,
            spec,
            entity_id,
            command,
            idempotency_key,
            if_match,
            correlation_id,
            traceparent,
        )
        return Response(
            outcome.result.model_dump_json(),
            media_type="application/json",
            headers=reply_headers(outcome, correlation),
        )

    command_endpoint.__doc__ = spec.handler.__doc__
    return command_endpoint


async def run_command(
    runner: CommandRunner,
    entity: EventSourcedEntity[Any],
    spec: CommandSpec,
    entity_id: str,
    command: Command,
    idempotency_key: str | None,
    if_match: str | None,
    correlation_id: str | None,
    traceparent: str | None = None,
) -> tuple[CommandOutcome, str]:
    correlation, metadata = command_metadata(correlation_id, traceparent)
    outcome = await runner.run(
        CommandRequest(
            entity_type=entity.name,
            entity_id=entity_id,
            command=spec.name,
            body=command,
            idempotency_key=idempotency_key,
            expected_version=_expected_version(if_match),
            metadata=metadata,
        )
    )
    return outcome, correlation


def reply_headers(outcome: CommandOutcome, correlation: str) -> dict[str, str]:
    headers = {"ETag": f'"{outcome.result.version}"', "X-Correlation-ID": correlation}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers


def _state_model(entity: EventSourcedEntity[Any]) -> type[BaseModel]:
    name = "".join(part.capitalize() for part in re.split(r"[-_]", entity.name)) + "Entity"
    return create_model(
        name,
        entity_type=(str, ...),
        entity_id=(str, ...),
        version=(int, ...),
        state=(entity.state_type, ...),
    )


def _state_endpoint(entity: EventSourcedEntity[Any], model: type[BaseModel]) -> Any:
    async def read_state(request: Request, entity_id: EntityId) -> Response:
        loaded = await _runner(request).load(entity, entity_id)
        if loaded.version == 0:
            raise EntityNotFound(entity.name, entity_id)
        etag = f'"{loaded.version}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        body = {
            "entity_type": entity.name,
            "entity_id": entity_id,
            "version": loaded.version,
            "state": loaded.state.model_dump(mode="json"),
        }
        return Response(
            model(**body).model_dump_json(),
            media_type="application/json",
            headers={"ETag": etag},
        )

    return read_state


def _history_endpoint(entity: EventSourcedEntity[Any], service_name: str) -> Any:
    async def read_history(
        request: Request,
        entity_id: EntityId,
        after: Annotated[int, Query(ge=0, description="Only versions above this.")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> EventPage:
        runner = _runner(request)
        stored = await runner.journal.entity_events(
            entity.name, entity_id, after=after, limit=limit
        )
        if not stored and after == 0:
            raise EntityNotFound(entity.name, entity_id)
        events = []
        for row in stored:
            event = entity.event_from_stored(row.type, row.schema_version, row.data)
            events.append(
                cloud_event(
                    service_name=service_name,
                    entity_type=entity.name,
                    entity_id=entity_id,
                    event_id=row.event_id,
                    type_name=row.type,
                    version=row.version,
                    schema_version=type(event).schema_version,
                    data=event.model_dump(mode="json"),
                    metadata=row.metadata,
                    recorded_at=row.recorded_at,
                    seq=row.seq,
                )
            )
        next_after = stored[-1].version if len(stored) == limit else None
        return EventPage(events=events, next_after=next_after)

    return read_history


def _add_unknown_routes(router: APIRouter, service: Service) -> None:
    """Precise 404s for names that match no declared entity type or command."""

    def explain(entity_type: str, command: str | None = None) -> None:
        entity = service.entity_types.get(entity_type)
        if entity is None:
            raise UnknownEntityType(entity_type)
        if command is not None and command not in entity.commands:
            raise UnknownCommand(entity_type, command)

    async def unknown_command(entity_type: str, entity_id: str, command: str) -> None:
        explain(entity_type, command)
        raise ProblemError(404, "not-found", "Not found")

    async def unknown_entity(entity_type: str, entity_id: str) -> None:
        explain(entity_type)
        raise ProblemError(404, "not-found", "Not found")

    router.add_api_route(
        "/entities/{entity_type}/{entity_id}/{command}",
        unknown_command,
        methods=["POST"],
        include_in_schema=False,
        dependencies=[require(COMMANDS_WRITE)],
    )
    router.add_api_route(
        "/entities/{entity_type}/{entity_id}",
        unknown_entity,
        methods=["GET"],
        include_in_schema=False,
        dependencies=[require(EVENTS_READ)],
    )
