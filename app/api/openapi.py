"""OpenAPI tweaks: problem bodies documented under application/problem+json only, and
operation ids that read as ``patient.admit`` for client generators."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from app.api.problems import PROBLEM_JSON


def operation_id(route: APIRoute) -> str:
    return route.name


def install_openapi(app: FastAPI, schemas: dict[str, Any] | None = None) -> None:
    """``schemas``: component schemas FastAPI cannot find on its own (models of bodies a
    route documents but parses itself)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            components = document.setdefault("components", {}).setdefault("schemas", {})
            for name, schema in (schemas or {}).items():
                components.setdefault(name, schema)
            _problems_as_problem_json(document)
            _document_the_doors(document)
            _parameters_never_null(document)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def _parameters_never_null(document: dict[str, Any]) -> None:
    """An optional header or query parameter is absent, never JSON null: FastAPI documents
    ``str | None`` as ``anyOf: [string, null]``, which tells a client (or a fuzzer) that the
    text ``null`` is a fine If-Match. Keep the one real type, with the parameter's own keys
    (description, a documented pattern) beside it."""
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                branches = [b for b in schema.get("anyOf", []) if b != {"type": "null"}]
                if len(branches) == 1 and len(schema["anyOf"]) == 2:
                    del schema["anyOf"]
                    parameter["schema"] = {**branches[0], **schema}


def _problems_as_problem_json(document: dict[str, Any]) -> None:
    for path in document.get("paths", {}).values():
        for operation in path.values():
            for response in operation.get("responses", {}).values():
                content = response.get("content", {})
                if PROBLEM_JSON in content and "application/json" in content:
                    content[PROBLEM_JSON] = content.pop("application/json")


# What every protected operation may answer before its route runs (app/api/auth.py, limits.py).
_GUARDED = {401: "Not authenticated", 403: "Not allowed", 429: "Too many requests"}
_BODY_LIMITS = {400: "Malformed request", 413: "Request body too large"}


def _document_the_doors(document: dict[str, Any]) -> None:
    for path in document.get("paths", {}).values():
        for operation in path.values():
            responses = operation.setdefault("responses", {})
            added = dict(_GUARDED) if operation.get("security") else {}
            if "requestBody" in operation:
                added.update(_BODY_LIMITS)
            for status, description in added.items():
                responses.setdefault(str(status), _problem(description))


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
