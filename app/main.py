"""create_app(): the HTTP app around a process's runtime, built and started by its lifespan.

Requests pass, outermost first: the request log (every answer, with its ids), authentication
(nothing below runs for a caller without a valid key), the body limits, the command fast
path, then FastAPI's routes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig

from app.api.docs_pages import install_docs
from app.api.fast_path import FastPath
from app.api.limits import BodyLimit
from app.api.logs import RequestLog, quiet_refused_handshakes
from app.api.openapi import install_openapi, operation_id
from app.api.problems import ProblemError, install_problem_handlers
from app.assembly import build_runtime, prepare_storage
from app.console import console_files
from app.db.runtime import resolve_database_url
from app.journal.front_door import CommandRoute
from app.journal.problems import install_command_problems
from app.journal.routes import add_entity_routes, command_schemas
from app.keys.auth import Authentication, require
from app.keys.ratelimit import FailureThrottle, RateLimiter
from app.keys.routes import router as keys_router
from app.keys.scopes import ADMIN, EVENTS_READ, WEBHOOKS_MANAGE
from app.observe.health import router as health_router
from app.observe.metrics import router as metrics_router
from app.public.routes import add_stream_routes
from app.relay.routes import router as consumers_router
from app.sdk.service import Service, load_service
from app.settings import Settings, get_settings
from app.stream.routes import router as stream_router
from app.views.routes import add_view_routes
from app.webhooks.routes import router as webhooks_router
from app.workflows.routes import router as workflows_router


def create_app(
    settings: Settings | None = None,
    *,
    service: Service | None = None,
    database_url: str | None = None,
    command_fast_path: bool = True,
    seed_keys: bool = True,
) -> FastAPI:
    """The app for ``service``. ``command_fast_path=False`` leaves commands to their FastAPI
    routes, which parse them the same way (for comparison; the fast path is quicker).
    ``seed_keys=False``: a parent process seeded the keys (``--workers``)."""
    settings = settings or get_settings()
    service = service or load_service(settings.service)
    service_name = settings.service_name or service.name
    lifespan = _lifespan(settings, service, service_name, database_url, seed_keys=seed_keys)
    app = FastAPI(
        title=f"Sluice — {service_name}",
        version="1.0.0",
        description=service.description or "Event-sourced entities over HTTP.",
        lifespan=lifespan,
        generate_unique_id_function=operation_id,
        telemetry=_telemetry(),
        docs_url=None,  # served from the package instead, below
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    install_problem_handlers(app)
    quiet_refused_handshakes()
    if not settings.process.serves_api:
        _add_middleware(app, settings, None)
        _add_worker_routes(app)
        return app
    install_openapi(app, schemas=command_schemas(service))
    install_docs(app, app.title)
    install_command_problems(app)
    _add_middleware(app, settings, service if command_fast_path else None)
    _add_routes(app, service, service_name)
    return app


def _lifespan(
    settings: Settings,
    service: Service,
    service_name: str,
    database_url: str | None,
    *,
    seed_keys: bool,
) -> Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]:
    """The runtime built, started and stopped with the app."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url or await asyncio.to_thread(resolve_database_url, settings.database)
        runtime = await build_runtime(settings, service, service_name, url, seed_keys=seed_keys)
        app.state.runtime = runtime
        try:
            await prepare_storage(runtime)
            await runtime.start()
            # Everything loaded so far lives as long as the process: keep it out of the
            # collector's full passes, which otherwise walk it all (~100 ms pauses).
            gc.freeze()
            yield
        finally:
            await runtime.stop()
            await runtime.pool.close()

    return lifespan


def _add_worker_routes(app: FastAPI) -> None:
    """A ``workers`` process: its health and metrics, and for anything else a 404 that says
    where the API is, so a load balancer pointed at the wrong deployment is found at once."""
    app.include_router(health_router)
    app.include_router(metrics_router, dependencies=[require(ADMIN)])

    async def elsewhere(path: str) -> None:
        raise ProblemError(
            404,
            "not-served-here",
            "Not served by a workers process",
            f"/{path}: this process runs only the workers (SLUICE_ROLE=workers); send"
            " requests to a process with the role api or all",
        )

    app.add_api_route(
        "/{path:path}",
        elsewhere,
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )


def _add_routes(app: FastAPI, service: Service, service_name: str) -> None:
    """Each router with the scope its operations need (``admin`` may do everything)."""
    app.include_router(health_router)
    app.include_router(metrics_router, dependencies=[require(ADMIN)])
    app.include_router(stream_router, dependencies=[require(EVENTS_READ)])
    app.include_router(consumers_router, dependencies=[require(ADMIN)])
    app.include_router(webhooks_router, dependencies=[require(WEBHOOKS_MANAGE)])
    app.include_router(keys_router, dependencies=[require(ADMIN)])
    if service.workflow_types:
        app.include_router(workflows_router)  # its routes say their scopes
    add_entity_routes(app.router, service, service_name)
    add_view_routes(app.router, service)
    add_stream_routes(app.router, service)
    app.mount("/console", console_files(), name="console")  # public: the page asks for a key


def _add_middleware(app: FastAPI, settings: Settings, fast_commands: Service | None) -> None:
    """Added innermost first: the command fast path sits inside the body limits, which sit
    inside authentication, inside the request log."""
    keys, http = settings.keys, settings.http
    if fast_commands is not None:
        app.add_middleware(FastPath, route=CommandRoute(fast_commands))
    app.add_middleware(
        BodyLimit, max_body_bytes=http.max_body_bytes, max_json_depth=http.max_json_depth
    )
    app.add_middleware(
        Authentication,
        limiter=RateLimiter(keys.rate_limit_per_second, keys.rate_limit_burst),
        failures=FailureThrottle(keys.auth_failures_per_second, keys.auth_failures_burst),
    )
    app.add_middleware(RequestLog, enabled=settings.logs.access_log)


def _telemetry() -> TelemetryConfig:
    """FastAPI's OpenTelemetry hooks only when an exporter is configured: otherwise they look
    up the global providers (reading os.environ) on every request, ~7% of a command's CPU.
    With an endpoint, FastAPI sets up the OTLP/HTTP exporters itself (the ``otel`` extra)."""
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return {"auto_configure": True}
    return {"tracing": False, "metrics": False, "logs": False}
