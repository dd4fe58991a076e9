"""RFC 9457 problem details for every error the API returns.

Every failure leaves as ``application/problem+json`` with a stable ``type`` (a relative URI
under /problems/), a human ``title``, the ``status`` and a ``detail`` saying what to do.
"""

from __future__ import annotations

import logging
import re
from typing import Any

import psycopg
import psycopg_pool
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, WebSocketRequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocket

from app.api.refusals import refuse

log = logging.getLogger("sluice.api")

PROBLEM_JSON = "application/problem+json"


class Problem(BaseModel):
    """RFC 9457 problem details; extension members vary by problem type."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", examples=["/problems/version-conflict"])
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None


class ProblemError(Exception):
    """Raise from a route to answer with a problem."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail or title)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers, self.extensions = headers or {}, extensions


def problem_response(
    request: Request | None,
    status: int,
    slug: str,
    title: str,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extensions: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"/problems/{slug}" if slug else "about:blank",
        "title": title,
        "status": status,
    }
    if detail:
        body["detail"] = detail
    if request is not None:
        body["instance"] = request.url.path
    body.update(extensions)
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entry documenting problem bodies for these statuses."""
    return {
        status: {"model": Problem, "content": {PROBLEM_JSON: {}}, "description": _TITLES[status]}
        for status in statuses
    }


_TITLES = {
    400: "Malformed request",
    401: "Not authenticated",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    422: "Invalid request",
    428: "Precondition required",
    500: "Internal error",
    503: "Service unavailable",
}


def _validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Field-level detail: where (body/path/query/header), a JSON pointer, and why."""
    found = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())] or ["body"]
        found.append(
            {
                "location": location[0],
                "pointer": "#/" + "/".join(location[1:]),
                "message": error.get("msg", ""),
                "type": error.get("type", ""),
            }
        )
    return found


def install_problem_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ProblemError, _on_problem)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _on_invalid)  # type: ignore[arg-type]
    app.add_exception_handler(WebSocketRequestValidationError, _on_invalid_upgrade)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, _on_http)  # type: ignore[arg-type]
    app.add_exception_handler(psycopg.OperationalError, _on_database_down)
    app.add_exception_handler(psycopg_pool.PoolTimeout, _on_database_down)
    app.add_exception_handler(Exception, _on_crash)


async def _on_problem(request: Request, exc: ProblemError) -> JSONResponse | None:
    response = problem_response(
        request, exc.status, exc.slug, exc.title, exc.detail, exc.headers, **exc.extensions
    )
    if request.scope["type"] == "websocket":  # refused before accept, as an HTTP answer
        await refuse(request.scope, request.receive, request.send, response)
        return None
    return response


async def _on_invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
    found = _validation_errors(exc)
    if any(error["type"] == "json_invalid" for error in found):
        return problem_response(
            request, 400, "malformed-json", "Malformed JSON", "the body is not valid JSON"
        )
    return _invalid_request(request, 422, found, "{pointer}: {message}")


async def _on_invalid_upgrade(websocket: WebSocket, exc: WebSocketRequestValidationError) -> None:
    """A WebSocket's query out of its rules (``?after=-1``): refused before accept with 400
    and the field, not a bare close the client sees as 403."""
    found = _validation_errors(exc)  # type: ignore[arg-type]
    each = "{location} {pointer}: {message}"
    response = _invalid_request(None, 400, found, each, instance=websocket.url.path)
    await refuse(websocket.scope, websocket.receive, websocket.send, response)


def _invalid_request(
    request: Request | None, status: int, found: list[dict[str, Any]], each: str, **extensions: Any
) -> JSONResponse:
    """The field-level errors in full, and in ``detail`` too (``each`` words one), cut short."""
    detail = "; ".join(each.format(**error) for error in found)[:500]
    return problem_response(
        request, status, "invalid-request", "Invalid request", detail, errors=found, **extensions
    )


async def _on_http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
    title = _TITLES.get(exc.status_code, "Error")
    detail = (
        exc.detail if isinstance(exc.detail, str) and exc.detail.lower() != title.lower() else None
    )
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
    return problem_response(request, exc.status_code, "", title, detail, headers)


async def _on_database_down(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable: %s", exc)
    return problem_response(
        request,
        503,
        "database-unavailable",
        "Database unavailable",
        "the database cannot be reached; nothing was changed, retry shortly",
        {"Retry-After": "2"},
    )


async def _on_crash(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return problem_response(request, 500, "internal-error", "Internal error")


def _allowed_methods(request: Request) -> str:
    """Every method the path answers: a 405's Allow must list what the resource supports (RFC
    9110), while Starlette names only the methods of the first route whose path matched."""
    methods: set[str] = set()
    for template, operations in request.app.openapi()["paths"].items():
        pattern = "/".join(
            "[^/]+" if part.startswith("{") else re.escape(part) for part in template.split("/")
        )
        if re.fullmatch(pattern, request.url.path):
            methods |= {method.upper() for method in operations}
    if "GET" in methods:
        methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return ", ".join(sorted(methods))
