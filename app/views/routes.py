"""Views over HTTP: status, queries (filters, sort, paging, read-your-writes), rebuild.

Each view gets its own routes, built from its declaration, so /openapi.json documents its
row schema and its filters.
"""

import inspect
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, create_model

from app.api.problems import ProblemError, problem_responses
from app.api.text import NO_NUL
from app.keys.auth import require
from app.keys.scopes import ADMIN, VIEWS_READ
from app.relay.routes import consumer_status
from app.relay.status import ConsumerStatus
from app.runtime import runtime_of
from app.sdk.service import Service
from app.sdk.view import View
from app.views.consistency import CheckpointWatch, UnknownEvent
from app.views.queries import BadSort, RowQuery, ViewQueries, parse_sort, sort_pattern
from app.views.rebuild import RebuildRunning, Rebuilds

QUERY_PARAMETERS = ("sort", "limit", "offset", "consistent_with")
ConsistentWith = Annotated[
    uuid.UUID | None,
    Query(description="Wait (bounded) until the view has applied this event (an event_id)."),
]


def add_view_routes(router: APIRouter, service: Service) -> None:
    @router.get(
        "/views",
        summary="Every view: checkpoint, lag, state and rebuild",
        tags=["views"],
        response_model=list[ConsumerStatus],
        dependencies=[require(VIEWS_READ)],
    )
    async def list_views(request: Request) -> list[ConsumerStatus]:
        rows = await runtime_of(request.scope).checkpoints.status()  # one query for every consumer
        views = service.view_types
        return [  # a view fed by a Kafka topic shows one row per partition: {name}@{partition}
            ConsumerStatus.from_row(row)
            for row in rows
            if row["name"] in views or row["name"].rpartition("@")[0] in views
        ]

    for view in service.view_types.values():
        _add_routes(router, view)


def _add_routes(router: APIRouter, view: View) -> None:
    tag = f"view {view.name}"
    page = create_model(
        f"{view.row_type.__name__}Page",
        items=(list[view.row_type], ...),  # type: ignore[name-defined]
        next_offset=(int | None, None),
    )
    router.add_api_route(
        f"/views/{view.name}",
        _rows_endpoint(view, page),
        methods=["GET"],
        name=f"{view.name}.rows",
        summary=view.description or f"Rows of the {view.name} view",
        tags=[tag],
        response_model=page,
        responses=problem_responses(404, 422, 503),
        dependencies=[require(VIEWS_READ)],
        openapi_extra={"x-sluice-view": _view_extension(view)},
    )
    router.add_api_route(
        f"/views/{view.name}/{{key}}",
        _row_endpoint(view),
        methods=["GET"],
        name=f"{view.name}.row",
        summary=f"One row of the {view.name} view, by {view.key_column}",
        tags=[tag],
        response_model=view.row_type,
        responses=problem_responses(404, 422, 503),
        dependencies=[require(VIEWS_READ)],
    )
    router.add_api_route(
        f"/views/{view.name}/rebuild",
        _rebuild_endpoint(view),
        methods=["POST"],
        name=f"{view.name}.rebuild",
        summary=f"Replay the log into a fresh {view.name} table and swap it in",
        tags=[tag],
        status_code=202,
        response_model=ConsumerStatus,
        responses=problem_responses(409),
        dependencies=[require(ADMIN)],
    )


def _view_extension(view: View) -> dict[str, Any]:
    """What a generic client (the console) needs to query the view without guessing."""
    return {
        "key": view.key_column,
        "filters": list(view.filters),
        "sort": list(dict.fromkeys((*view.sort, view.key_column))),  # what ?sort= accepts
        "columns": list(view.row_type.model_fields),
    }


def _rows_endpoint(view: View, page: type[BaseModel]) -> Any:
    async def rows_endpoint(request: Request, **params: Any) -> Any:
        _refuse_unknown(request, view, {*view.filters, *QUERY_PARAMETERS})
        await _wait_if_asked(request, view, params.pop("consistent_with"))
        try:
            sort = parse_sort(view, params.pop("sort"))
        except BadSort as error:
            raise ProblemError(422, "bad-sort", "Invalid sort", str(error)) from None
        limit, offset = params.pop("limit"), params.pop("offset")
        filters = {name: value for name, value in params.items() if value is not None}
        queries: ViewQueries = runtime_of(request.scope).view_queries
        items = await queries.rows(view, RowQuery(filters, sort, limit + 1, offset))
        more = len(items) > limit
        return page(items=items[:limit], next_offset=offset + limit if more else None)

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)
    ]
    for column in view.filters:
        python_type = view.table.c[column].type.python_type
        parameters.append(
            _query_param(
                column,
                Annotated[
                    python_type | None,
                    Query(
                        description=f"Only rows whose {column} equals this.",
                        **_text_rules(python_type),
                    ),
                ],
            )
        )
    sortable = ", ".join((*view.sort, view.key_column))
    parameters += [
        _query_param(
            "sort",
            Annotated[
                str | None,
                Query(
                    description=f"Comma-separated columns, '-' for descending; of: {sortable}.",
                    json_schema_extra={"pattern": sort_pattern(view)},  # checked: bad-sort
                ),
            ],
        ),
        _query_param("limit", Annotated[int, Query(ge=1, le=1000)], 100),
        _query_param("offset", Annotated[int, Query(ge=0, le=1_000_000)], 0),
        _query_param("consistent_with", ConsistentWith),
    ]
    rows_endpoint.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return rows_endpoint


def _query_param(name: str, annotation: Any, default: Any = None) -> inspect.Parameter:
    return inspect.Parameter(
        name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default
    )


def _text_rules(python_type: type) -> dict[str, Any]:
    """A text column's value cannot hold NUL (app/api/text.py): refused with a 422."""
    return {"pattern": NO_NUL} if python_type is str else {}


def _row_endpoint(view: View) -> Any:
    key_type = view.table.c[view.key_column].type.python_type

    async def row_endpoint(
        request: Request,
        key: Annotated[  # type: ignore[valid-type]
            key_type,
            Path(description=f"The row's {view.key_column}.", **_text_rules(key_type)),
        ],
        consistent_with: ConsistentWith = None,
    ) -> Any:
        _refuse_unknown(request, view, {"consistent_with"})
        await _wait_if_asked(request, view, consistent_with)
        queries: ViewQueries = runtime_of(request.scope).view_queries
        row = await queries.row(view, key)
        if row is None:
            raise ProblemError(404, "not-found", "Not found", f"{view.name} has no row {key!r}")
        return row

    return row_endpoint


def _rebuild_endpoint(view: View) -> Any:
    async def rebuild_endpoint(request: Request) -> ConsumerStatus:
        runtime = runtime_of(request.scope)
        rebuilds: Rebuilds = runtime.rebuilds
        source = view.source
        topic = runtime.settings.kafka.subscribe.get(source.upstream) if source else None
        if topic is not None:
            raise ProblemError(
                409,
                "rebuild-from-topic",
                "Not rebuilt from a topic",
                f"{view.name} reads Kafka topic {topic}, one checkpoint per partition; a"
                " rebuild reads the producer's stream from its start, which a topic's"
                " retention cannot promise. Rebuild it with the subscription read over HTTP"
                " (without SLUICE_KAFKA_SUBSCRIBE), then switch back.",
            )
        try:
            await rebuilds.begin(view)
        except RebuildRunning:
            raise ProblemError(
                409, "rebuild-running", "Rebuild running", f"{view.name} is being rebuilt already"
            ) from None
        return await consumer_status(request, view.name)

    return rebuild_endpoint


def _refuse_unknown(request: Request, view: View, allowed: set[str]) -> None:
    """A mistyped filter must not quietly match every row."""
    unknown = sorted(set(request.query_params) - allowed)
    if unknown:
        raise ProblemError(
            422,
            "unknown-parameter",
            "Unknown query parameter",
            f"{view.name} takes no {', '.join(unknown)}; it filters on: "
            f"{', '.join(view.filters) or 'nothing'}",
        )


async def _wait_if_asked(request: Request, view: View, event_id: uuid.UUID | None) -> None:
    if event_id is None:
        return
    watch: CheckpointWatch = runtime_of(request.scope).checkpoint_watch
    timeout: float = runtime_of(request.scope).settings.views.consistency_timeout_seconds
    try:
        applied = await watch.wait_until_applied(view.name, event_id, within=timeout)
    except UnknownEvent:
        raise ProblemError(
            404, "unknown-event", "Unknown event", f"no event {event_id} in the journal"
        ) from None
    if not applied:
        raise ProblemError(
            503,
            "view-not-consistent",
            "View not caught up",
            f"{view.name} has not applied event {event_id} within {timeout:g}s; retry shortly",
            headers={"Retry-After": "1"},
            view=view.name,
        )
