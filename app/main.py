"""create_app(): the routers and a lifespan that opens the pool and runs the housekeeping."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
from collections import Counter
from collections.abc import AsyncIterator

from fastapi import FastAPI
from fastapi.telemetry import TelemetryConfig
from psycopg_pool import AsyncConnectionPool

from app.api.auth import Authentication, require
from app.api.docs_pages import install_docs
from app.api.health import router as health_router
from app.api.limits import BodyLimit
from app.api.logs import RequestLog, quiet_refused_handshakes
from app.api.metrics import Metrics
from app.api.metrics import router as metrics_router
from app.api.openapi import install_openapi, operation_id
from app.api.problems import install_problem_handlers
from app.console import console_files
from app.db import jsonb
from app.db.runtime import resolve_database_url
from app.db.urls import libpq_url
from app.journal.commands import CommandRunner, RunnerSettings
from app.journal.dispatch import CommandDispatch
from app.journal.repository import Journal
from app.journal.routes import add_entity_routes
from app.keys.bootstrap import prepare_keys
from app.keys.changes import KeyChanges
from app.keys.keyring import KeyRing
from app.keys.ratelimit import FailureThrottle, RateLimiter
from app.keys.routes import router as keys_router
from app.keys.scopes import ADMIN, EVENTS_READ, WEBHOOKS_MANAGE
from app.keys.store import KEYS_CHANNEL, KeyStore
from app.relay.background import cancel_and_wait
from app.relay.listener import Listener
from app.relay.routes import router as consumers_router
from app.relay.sql import OUTBOX_CHANNEL
from app.sdk.service import Service, load_service
from app.settings import Settings, get_settings
from app.stream.key_watch import SocketKeyWatch
from app.stream.log import EventLog
from app.stream.routes import router as stream_router
from app.stream.subscription import SubscriptionLimits
from app.views.queries import ViewQueries
from app.views.routes import add_view_routes
from app.webhooks.routes import router as webhooks_router
from app.workers import CHANNELS, build_workers

log = logging.getLogger("sluice")

PURGE_INTERVAL_SECONDS = 600


def create_app(
    settings: Settings | None = None,
    *,
    service: Service | None = None,
    database_url: str | None = None,
) -> FastAPI:
    settings = settings or get_settings()
    service = service or load_service(settings.service)
    service_name = settings.service_name or service.name

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = database_url or await asyncio.to_thread(resolve_database_url, settings)
        pool = AsyncConnectionPool(
            libpq_url(url),
            min_size=settings.pool_min_size,
            max_size=settings.pool_max_size,
            timeout=settings.db_timeout_seconds,
            kwargs={"autocommit": True},
            configure=jsonb.configure,
            open=False,
            name="sluice",
        )
        await pool.open(wait=True, timeout=30)
        listener = Listener(libpq_url(url), (*CHANNELS, KEYS_CHANNEL))
        keys = KeyStore(pool)
        await prepare_keys(settings, keys)
        app.state.keys, app.state.keyring = keys, KeyRing(keys)
        listener.on_payload(KEYS_CHANNEL, app.state.keyring.forget_all)
        app.state.subscriptions = set()
        key_changes = KeyChanges()
        listener.on_payload(KEYS_CHANNEL, key_changes.heard)
        socket_keys = SocketKeyWatch(keys, app.state.subscriptions, scope=EVENTS_READ)
        key_changes.react(socket_keys.recheck)
        app.state.ws_clients_per_key = settings.ws_clients_per_key
        app.state.ws_clients = Counter()
        app.state.metrics = metrics = Metrics(service)
        journal = Journal(
            pool,
            on_appended=lambda: listener.wake_local(OUTBOX_CHANNEL),
            on_batch=metrics.append_batch.observe,
        )
        runner = CommandRunner(
            service, journal, _runner_settings(settings), observer=metrics.command_finished
        )
        event_log = EventLog(pool, service, service_name)
        workers = build_workers(
            settings,
            service,
            conninfo=libpq_url(url),
            pool=pool,
            listener=listener,
            runner=runner,
            event_log=event_log,
            metrics=metrics,
        )
        app.state.pool, app.state.runner, app.state.workers = pool, runner, workers
        app.state.sequencer, app.state.event_log, app.state.hub = (
            workers.sequencer,
            event_log,
            workers.hub,
        )
        app.state.checkpoints = workers.checkpoints
        app.state.checkpoint_watch = workers.watch
        app.state.rebuilds = workers.rebuilds
        app.state.view_queries = ViewQueries(pool)
        app.state.consistency_timeout = settings.view_consistency_timeout_seconds
        app.state.service_name = service_name
        app.state.webhook_subscriptions = workers.webhook_pump.subscriptions
        app.state.webhook_deliveries = workers.webhook_pump.deliveries
        app.state.webhook_allow_private = settings.allows_private_webhooks()
        app.state.webhook_secret_grace_seconds = settings.webhook_secret_grace_seconds
        app.state.subscription_limits = SubscriptionLimits(
            queue_size=settings.ws_queue_size,
            slow_after=settings.ws_slow_after_seconds,
            poll_interval=settings.relay_poll_seconds,
        )
        await workers.start(service, pool)
        key_changes.react(workers.webhook_pump.subscriptions.disable_revoked_owners)
        key_changes.start()
        purger = asyncio.create_task(_purge_expired_commands(journal, settings))
        # Everything loaded so far lives as long as the process: keep it out of the collector's
        # full passes, which otherwise walk it all (~100 ms pauses, the whole p99 budget).
        gc.freeze()
        try:
            yield
        finally:
            await cancel_and_wait(purger)
            await key_changes.stop()
            await workers.stop()
            await pool.close()

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
    install_openapi(app)
    install_docs(app, app.title)
    install_problem_handlers(app)
    quiet_refused_handshakes()
    app.add_middleware(CommandDispatch, service=service)  # inside BodyLimit: limits apply
    app.add_middleware(
        BodyLimit, max_body_bytes=settings.max_body_bytes, max_json_depth=settings.max_json_depth
    )
    app.add_middleware(  # nothing below runs for a caller without a valid key
        Authentication,
        limiter=RateLimiter(settings.rate_limit_per_second, settings.rate_limit_burst),
        failures=FailureThrottle(settings.auth_failures_per_second, settings.auth_failures_burst),
    )
    app.add_middleware(RequestLog, enabled=settings.access_log)  # outermost: sees every answer
    app.include_router(health_router)
    app.include_router(metrics_router, dependencies=[require(ADMIN)])
    app.include_router(stream_router, dependencies=[require(EVENTS_READ)])
    app.include_router(consumers_router, dependencies=[require(ADMIN)])
    app.include_router(webhooks_router, dependencies=[require(WEBHOOKS_MANAGE)])
    app.include_router(keys_router, dependencies=[require(ADMIN)])
    add_entity_routes(app.router, service, service_name)
    add_view_routes(app.router, service)
    app.mount("/console", console_files(), name="console")  # public: the page asks for a key
    return app


def _telemetry() -> TelemetryConfig:
    """FastAPI's OpenTelemetry hooks only when an exporter is configured: otherwise they look
    up the global providers (reading os.environ) on every request, ~7% of a command's CPU.
    With an endpoint, FastAPI sets up the OTLP/HTTP exporters itself (the ``otel`` extra)."""
    if os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT"):
        return {"auto_configure": True}
    return {"tracing": False, "metrics": False, "logs": False}


def _runner_settings(settings: Settings) -> RunnerSettings:
    return RunnerSettings(
        retries=settings.command_retries,
        snapshot_every=settings.snapshot_every,
        idempotency_ttl_seconds=settings.idempotency_ttl_seconds,
        cache_size=settings.entity_cache_size,
    )


async def _purge_expired_commands(journal: Journal, settings: Settings) -> None:
    """Idempotency records past their retention are dead weight; drop them now and then."""
    while True:
        try:
            purged = await journal.purge_expired_commands(settings.idempotency_ttl_seconds)
            if purged:
                log.info("purged %d expired idempotency records", purged)
        except Exception:
            log.exception("purging expired idempotency records failed; will retry")
        await asyncio.sleep(PURGE_INTERVAL_SECONDS)
