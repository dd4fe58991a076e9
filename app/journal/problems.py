"""A refused command as problem+json: each CommandError to its status and problem type."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app.api.problems import problem_response
from app.journal import errors


def install_command_problems(app: FastAPI) -> None:
    @app.exception_handler(errors.CommandError)
    async def on_command_error(request: Request, exc: errors.CommandError) -> JSONResponse:
        return command_problem(request, exc)


def command_problem(request: Request, exc: errors.CommandError) -> JSONResponse:
    match exc:
        case errors.UnknownEntityType() | errors.UnknownCommand() | errors.EntityNotFound():
            return problem_response(request, 404, "not-found", "Not found", str(exc))
        case errors.CommandRejected():
            return problem_response(
                request,
                409,
                "command-rejected",
                "Command rejected",
                exc.reason,
                version=exc.version,
                **({"rejection": exc.detail} if exc.detail else {}),
            )
        case errors.VersionMismatch():
            return problem_response(
                request,
                409,
                "version-conflict",
                "Version conflict",
                str(exc),
                {"ETag": f'"{exc.current}"'},
                expected_version=exc.expected,
                current_version=exc.current,
            )
        case errors.ContentionExhausted():
            return problem_response(
                request, 409, "contention", "Too much contention", str(exc), {"Retry-After": "1"}
            )
        case errors.IdempotencyKeyReused():
            return problem_response(
                request, 422, "idempotency-key-reused", "Idempotency-Key reused", str(exc)
            )
    return problem_response(request, 400, "bad-command", "Bad command", str(exc))
