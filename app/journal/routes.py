"""Commands in: one typed route per command of every entity, plus state and history reads.

Each command gets its own route (not one generic route) so /openapi.json documents every
command's body. Routes only build a CommandRequest and hand it to the CommandRunner.
"""

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import BaseModel, create_model
from pydantic.json_schema import models_json_schema

from app.api.problems import ProblemError, problem_responses
from app.journal.cloudevents import CloudEvent, cloud_event
from app.journal.correlation import MAX_CORRELATION_ID
from app.journal.errors import EntityNotFound, UnknownCommand, UnknownEntityType
from app.journal.front_door import (
    ENTITY_ID_PATTERN,
    HEADER_NAMES,
    IDEMPOTENCY_KEY_PATTERN,
    IF_MATCH_PATTERN,
    MAX_TRACEPARENT,
    parse_command_request,
    reply_headers,
)
from app.journal.results import CommandResult
from app.keys.auth import require
from app.keys.scopes import COMMANDS_WRITE, EVENTS_READ
from app.runtime import RuntimeDep
from app.sdk.entity import CommandSpec, EventSourcedEntity, camel
from app.sdk.service import Service

EntityId = Annotated[
    str,
    Path(
        pattern=ENTITY_ID_PATTERN,
        description="The entity's id: 1-200 of letters, digits and . _ : @ ~ -",
    ),
]


def _header(name: str, description: str, **schema: Any) -> dict[str, Any]:
    return {
        "name": name,
        "in": "header",
        "required": False,
        "description": description,
        "schema": {"type": "string", **schema},
    }


# The command headers as /openapi.json documents them, from the front door's own limits:
# the front door parses them (a fast-path request and this route's alike), not FastAPI.
COMMAND_HEADERS = [
    _header(
        "Idempotency-Key",
        "Same key and same body: the stored reply, no new events. Kept 24 h.",
        pattern=IDEMPOTENCY_KEY_PATTERN,
    ),
    _header(
        "If-Match",
        'Run only if the entity is at this version: "3" (malformed: 400).',
        pattern=IF_MATCH_PATTERN,
    ),
    _header("X-Correlation-ID", "Carried into event metadata.", maxLength=MAX_CORRELATION_ID),
    _header(
        "traceparent",
        "W3C trace context; stored with the events and carried downstream.",
        maxLength=MAX_TRACEPARENT,
    ),
]


# Documented, not checked by FastAPI: the front door checks it (a command's path only).
DocumentedEntityId = Annotated[
    str,
    Path(
        description="The entity's id: 1-200 of letters, digits and . _ : @ ~ -",
        json_schema_extra={"pattern": ENTITY_ID_PATTERN},
    ),
]


class EventPage(BaseModel):
    events: list[CloudEvent]
    next_after: int | None = None


def add_entity_routes(router: APIRouter, service: Service, service_name: str) -> None:
    """Add the routes straight onto ``router`` (the app's own): an included sub-router costs
    a second round of route matching on every request, measurable on the command path."""
    for entity in service.entity_types.values():
        tag = entity.name
        for spec in entity.public_commands:
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
                openapi_extra={
                    "parameters": COMMAND_HEADERS,
                    "requestBody": _body_of(spec),
                },
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


def _command_endpoint(entity: EventSourcedEntity[Any], spec: CommandSpec) -> Any:
    """A command route as FastAPI sees it; what /openapi.json says of it (its body, its
    headers) comes from ``openapi_extra``, since FastAPI does not parse it.

    In the running app the fast path (``CommandRoute``) answers these paths before FastAPI's
    routing; this endpoint serves an app assembled without it. Both hand the raw request to
    ``parse_command_request``: one parser, so the two can never answer differently.
    """

    async def command_endpoint(
        request: Request, runtime: RuntimeDep, entity_id: DocumentedEntityId
    ) -> Response:
        headers = {name: request.headers[name] for name in HEADER_NAMES if name in request.headers}
        parsed = parse_command_request(entity, spec, entity_id, headers, await request.body())
        outcome = await runtime.runner.run(parsed.request)
        return Response(
            outcome.result.model_dump_json(),
            media_type="application/json",
            headers=reply_headers(outcome, parsed.correlation_id),
        )

    command_endpoint.__doc__ = spec.handler.__doc__
    return command_endpoint


def _body_of(spec: CommandSpec) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{spec.model.__name__}"}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def command_schemas(service: Service) -> dict[str, Any]:
    """Every command body's JSON Schema (and the models they use), for the components of
    /openapi.json: the command routes document their bodies without FastAPI parsing them."""
    models = [
        (spec.model, "validation")
        for entity in service.entity_types.values()
        for spec in entity.public_commands
    ]
    _, found = models_json_schema(models, ref_template="#/components/schemas/{model}")
    return dict(found.get("$defs", {}))


def _state_model(entity: EventSourcedEntity[Any]) -> type[BaseModel]:
    name = camel(entity.name) + "Entity"
    return create_model(
        name,
        entity_type=(str, ...),
        entity_id=(str, ...),
        version=(int, ...),
        state=(entity.public_state_type, ...),
    )


def _state_endpoint(entity: EventSourcedEntity[Any], model: type[BaseModel]) -> Any:
    async def read_state(request: Request, runtime: RuntimeDep, entity_id: EntityId) -> Response:
        loaded = await runtime.runner.load(entity, entity_id)
        state = entity.public_state(loaded.state)
        if loaded.version == 0 or state is None:
            raise EntityNotFound(entity.name, entity_id)
        etag = f'"{loaded.version}"'
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers={"ETag": etag})
        body = {
            "entity_type": entity.name,
            "entity_id": entity_id,
            "version": loaded.version,
            "state": state.model_dump(mode="json"),
        }
        return Response(
            model(**body).model_dump_json(),
            media_type="application/json",
            headers={"ETag": etag},
        )

    return read_state


def _history_endpoint(entity: EventSourcedEntity[Any], service_name: str) -> Any:
    async def read_history(
        runtime: RuntimeDep,
        entity_id: EntityId,
        after: Annotated[int, Query(ge=0, description="Only versions above this.")] = 0,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> EventPage:
        stored = await runtime.journal.entity_events(
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
        if command is not None and command not in {spec.name for spec in entity.public_commands}:
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
