"""Building a process's runtime: every component, wired once, in the data's order.

Commands in (journal, runner) → the log (sequencer, reader, hub) → consumers (views,
actions, the webhook dispatcher) → effects out (timers, webhook deliveries) → keys and
operations. Workers start in that order, after the listener, so none misses a wake-up, and
stop in reverse, so nothing runs on a closed pool.
"""

from __future__ import annotations

import functools
import logging
from pathlib import Path
from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.actions.runner import ActionConsumer
from app.background.leadership import Leadership
from app.background.listener import Listener
from app.db import jsonb
from app.db.urls import libpq_url
from app.journal.commands import CommandRunner
from app.journal.housekeeping import ExpiredCommandPurger
from app.journal.repository import Journal
from app.journal.sql import OUTBOX_CHANNEL
from app.journal.timed import fire_timer
from app.kafka.publisher import PublisherWorker, TopicPublisher
from app.kafka.topics import TopicWorker
from app.keys.bootstrap import prepare_keys
from app.keys.changes import KeyChanges
from app.keys.keyring import KeyRing
from app.keys.store import KEYS_CHANNEL, KeyStore
from app.observe.metrics import Metrics
from app.public.routes import public_streams
from app.relay.checkpoints import Checkpoints
from app.relay.consumer import Consumer, ConsumerWorker
from app.relay.log import EventLog
from app.relay.sequencer import Sequencer
from app.runtime import Runtime, Worker
from app.sdk.action import Action
from app.sdk.service import Service
from app.sdk.view import View
from app.settings import ConfigurationError, Settings
from app.stream.hub import LogHub
from app.stream.key_watch import SocketKeyWatch
from app.stream.sockets import OpenSockets
from app.timers.store import TimerStore
from app.timers.worker import TimerWorker
from app.upstream.client import StreamClient
from app.upstream.source import UpstreamSource
from app.upstream.worker import SubscriptionWorker
from app.views.consistency import CheckpointWatch
from app.views.projector import ViewProjector
from app.views.queries import ViewQueries
from app.views.rebuild import Rebuilds, ViewRebuild
from app.views.schema import ensure_table
from app.webhooks.deliveries import Deliveries
from app.webhooks.dispatcher import WebhookDispatcher
from app.webhooks.pump import DeliveryPump
from app.webhooks.subscriptions import Subscriptions
from app.workflows.runner import WorkflowRunner

log = logging.getLogger("sluice")


async def open_pool(settings: Settings, url: str) -> AsyncConnectionPool:
    pool = AsyncConnectionPool(
        libpq_url(url),
        min_size=settings.database.pool_min_size,
        max_size=settings.database.pool_max_size,
        timeout=settings.database.timeout_seconds,
        kwargs={"autocommit": True},
        configure=jsonb.configure,
        open=False,
        name="sluice",
    )
    await pool.open(wait=True, timeout=30)
    return pool


async def build_runtime(
    settings: Settings, service: Service, service_name: str, url: str, *, seed_keys: bool = True
) -> Runtime:
    """Everything a process runs, built and wired; nothing started yet. ``seed_keys``:
    seed SLUICE_ADMIN_KEY or make the first key (False: a parent process did)."""
    pool, conninfo, background = await open_pool(settings, url), libpq_url(url), settings.background
    listener, metrics = Listener(conninfo, background), Metrics(service)
    keys, keyring = await _keys(settings, pool, listener, prepare=seed_keys)
    journal = Journal(
        pool,
        on_appended=lambda: listener.wake_local(OUTBOX_CHANNEL),
        on_batch=metrics.append_batch.observe,
    )
    runner = CommandRunner(service, journal, settings.commands, observer=metrics.command_finished)
    listener.on_payload(OUTBOX_CHANNEL, runner.follower())
    event_log, checkpoints = EventLog(pool, service, service_name), Checkpoints(pool)
    sequencer = Sequencer(
        conninfo, listener, settings.sequencer, background, on_batch=metrics.sequencer_batch.observe
    )
    hub = LogHub(
        event_log, listener, buffer_size=settings.stream.log_buffer_size, settings=background
    )
    watch = CheckpointWatch(pool, checkpoints, listener, poll_interval=background.poll_seconds)
    rebuilds = Rebuilds(functools.partial(_rebuild, settings, conninfo, pool, event_log))
    runtime = Runtime(
        settings=settings,
        service=service,
        service_name=service_name,
        pool=pool,
        listener=listener,
        leadership=Leadership(conninfo, background),
        journal=journal,
        runner=runner,
        sequencer=sequencer,
        log=event_log,
        hub=hub,
        sockets=OpenSockets(settings.stream.clients_per_key),
        checkpoints=checkpoints,
        view_queries=ViewQueries(pool),
        checkpoint_watch=watch,
        rebuilds=rebuilds,
        webhooks=Subscriptions(pool),
        deliveries=Deliveries(pool),
        keys=keys,
        keyring=keyring,
        metrics=metrics,
        public=public_streams(service, event_log, service_name),
    )
    _attach_workers(runtime)
    return runtime


def _attach_workers(runtime: Runtime) -> None:
    consumers = _consumer_workers(runtime)
    # Every consumer the service declares, whichever process runs it: an api process's
    # GET /consumers must not call them retired.
    runtime.consumer_names = frozenset(worker.name for worker in consumers)
    runtime.workers = _workers(runtime, consumers)


async def _keys(
    settings: Settings, pool: AsyncConnectionPool, listener: Listener, *, prepare: bool
) -> tuple[KeyStore, KeyRing]:
    keys = KeyStore(pool)
    if prepare:
        await prepare_keys(
            keys, admin_key=settings.keys.admin_key, first_start_in=first_start_folder(settings)
        )
    keyring = KeyRing(keys)
    listener.on_payload(KEYS_CHANNEL, keyring.forget_all)
    return keys, keyring


def _workers(runtime: Runtime, consumers: list[ConsumerWorker | TopicWorker]) -> list[Worker]:
    """In the data's order: the listener first (no wake-up missed), the sequencer, the
    hub, leadership, the consumers, then timers, webhook deliveries, keys, housekeeping.

    By role: an ``api`` process keeps what serves requests (the hub behind WebSockets and
    long polls, rebuilds an operator asks for, key changes that close sockets); a
    ``workers`` process what moves the log (the sequencer, the consumers, timers, webhook
    deliveries, housekeeping). ``all`` runs both."""
    settings, listener = runtime.settings, runtime.listener
    background, process = settings.background, settings.process
    key_changes = KeyChanges(listener, background)
    api: list[Worker] = []
    workers: list[Worker] = []
    if process.serves_api:
        key_changes.react(SocketKeyWatch(runtime.keys, runtime.sockets).recheck)
        api = [runtime.hub, runtime.rebuilds]
    if process.runs_workers:
        key_changes.react(runtime.webhooks.disable_revoked_owners)
        workers = [
            runtime.leadership,
            *consumers,
            TimerWorker(
                TimerStore(runtime.pool),
                functools.partial(fire_timer, runtime.runner),
                listener,
                background,
            ),
            DeliveryPump(
                runtime.deliveries,
                runtime.webhooks,
                runtime.log,
                listener,
                settings.webhooks,
                background,
                on_attempt=runtime.metrics.webhook_attempt,
            ),
            ExpiredCommandPurger(
                runtime.journal, settings.commands.idempotency_ttl_seconds, background
            ),
        ]
    sequencer: list[Worker] = [runtime.sequencer] if process.runs_workers else []
    return [listener, *sequencer, *api, *workers, key_changes]


def _consumer_workers(runtime: Runtime) -> list[ConsumerWorker | TopicWorker]:
    """One worker per consumer: on this service's log, or on another service's stream."""
    settings = runtime.settings
    shared: dict[str, Any] = {
        "checkpoints": runtime.checkpoints,
        "leadership": runtime.leadership,
        "listener": runtime.listener,
        "settings": settings.consumers,
        "worker_settings": settings.background,
    }
    workers: list[ConsumerWorker | TopicWorker] = []
    topics = settings.kafka.subscribe
    for consumer, source in _consumers(runtime):
        if isinstance(consumer, TopicPublisher):  # its batches: what waits for acks
            batches = settings.consumers.model_copy(
                update={"batch_size": settings.kafka.publish_batch}
            )
            workers.append(
                PublisherWorker(consumer, event_log=runtime.log, **{**shared, "settings": batches})
            )
        elif source is None:
            workers.append(ConsumerWorker(consumer, event_log=runtime.log, **shared))
        elif source.subscription.upstream in topics:
            workers.append(topic_worker(runtime, consumer, source))
        else:
            upstream = settings.upstream
            workers.append(
                SubscriptionWorker(consumer, source=source, upstream_settings=upstream, **shared)
            )
    return workers


def topic_worker(runtime: Runtime, consumer: Consumer, source: UpstreamSource) -> TopicWorker:
    """A consumer of another service's stream that reads it from a Kafka topic
    (SLUICE_KAFKA_SUBSCRIBE), one consumer group across this service's processes."""
    settings = runtime.settings
    if not settings.kafka.bootstrap_servers:
        raise ConfigurationError(
            f"SLUICE_KAFKA_SUBSCRIBE reads {source.subscription.upstream} from Kafka, but"
            " SLUICE_KAFKA_BOOTSTRAP_SERVERS is unset"
        )
    return TopicWorker(
        consumer,
        events=source,
        topic=settings.kafka.subscribe[source.subscription.upstream],
        group=f"{runtime.service_name}.{consumer.name}",
        kafka=settings.kafka,
        checkpoints=runtime.checkpoints,
        settings=settings.consumers,
        worker_settings=settings.background,
        listener=runtime.listener,
        metrics=runtime.metrics,
    )


def _consumers(runtime: Runtime) -> list[tuple[Consumer, UpstreamSource | None]]:
    service, settings, pool = runtime.service, runtime.settings, runtime.pool
    found: list[tuple[Consumer, UpstreamSource | None]] = []
    for view in service.view_types.values():
        source = upstream_source(settings, pool, view)
        projector = ViewProjector(
            view,
            service,
            pool=pool,
            checkpoints=runtime.checkpoints,
            event_log=source or runtime.log,  # type: ignore[arg-type]
            cache_size=settings.views.cache_size,
            on_advanced=runtime.checkpoint_watch.note,
        )
        found.append((projector, source))
    found.append((WebhookDispatcher(runtime.checkpoints), None))
    for action in service.action_types.values():
        source = upstream_source(settings, pool, action)
        consumer = ActionConsumer(
            action,
            service,
            pool=pool,
            runner=runtime.runner,
            checkpoints=runtime.checkpoints,
            event_log=source or runtime.log,  # type: ignore[arg-type]
            timers=TimerStore(pool),
        )
        found.append((consumer, source))
    for workflow in service.workflow_types.values():
        steps = WorkflowRunner(
            workflow,
            service,
            runner=runtime.runner,
            checkpoints=runtime.checkpoints,
            event_log=runtime.log,
        )
        found.append((steps, None))
    found += [(publisher, None) for publisher in topic_publishers(runtime)]
    return found


def topic_publishers(runtime: Runtime) -> list[TopicPublisher]:
    """A publisher per stream sent to a Kafka topic (declared on the stream, or by
    SLUICE_KAFKA_PUBLISH, which wins)."""
    kafka = runtime.settings.kafka
    found = []
    for stream_id, reader in runtime.public.items():
        topic = kafka.publish.get(stream_id) or reader.stream.topic
        if topic is None:
            continue
        if not kafka.bootstrap_servers:
            log.warning(
                "stream %s is published to topic %s, but SLUICE_KAFKA_BOOTSTRAP_SERVERS is"
                " unset: not publishing it",
                stream_id,
                topic,
            )
            continue
        publisher = TopicPublisher(
            reader,
            topic,
            settings=kafka,
            checkpoints=runtime.checkpoints,
            backoff=runtime.settings.consumers.backoff,
            metrics=runtime.metrics,
        )
        found.append(publisher)
    unknown = set(kafka.publish) - set(runtime.public)
    if unknown:
        raise ConfigurationError(
            f"SLUICE_KAFKA_PUBLISH names {', '.join(sorted(unknown))}: this service has no such"
            f" stream (it has: {', '.join(sorted(runtime.public)) or 'none'})"
        )
    return found


def upstream_source(
    settings: Settings, pool: AsyncConnectionPool, consumer: View | Action
) -> UpstreamSource | None:
    """Where a consumer fed by another service's stream reads it; None for the local log."""
    subscription = consumer.source
    if subscription is None:
        return None
    client = StreamClient(
        subscription.service,
        subscription.stream,
        settings.upstreams.get(subscription.service),
        settings.upstream,
    )
    handled = frozenset(event_type.event_type for event_type in consumer.handlers)
    return UpstreamSource(subscription, handled, client, pool)


def _rebuild(
    settings: Settings,
    conninfo: str,
    pool: AsyncConnectionPool,
    event_log: EventLog,
    view: View,
) -> ViewRebuild:
    source = upstream_source(settings, pool, view)
    return ViewRebuild(
        view,
        conninfo=conninfo,
        pool=pool,
        checkpoints=Checkpoints(pool),
        event_log=source or event_log,  # type: ignore[arg-type]
        log_types=event_log.service.log_types(view.handlers),
        batch_size=settings.consumers.batch_size,
    )


def first_start_folder(settings: Settings) -> Path | None:
    """Where a brand-new local install keeps its first admin key: only with the embedded
    database (a server of one's own), never for a shared DATABASE_URL."""
    database = settings.database
    return database.data_dir if database.uses_embedded_server() else None


async def prepare_storage(runtime: Runtime) -> None:
    """What must exist before the workers start: each view's table, each consumer's
    checkpoint row."""
    async with runtime.pool.connection() as conn:
        for view in runtime.service.view_types.values():
            await ensure_table(conn, view)
    for worker in runtime.workers:
        if isinstance(worker, SubscriptionWorker):
            consumer, upstream = worker.consumer, worker.source.subscription.upstream
            await runtime.checkpoints.register_upstream(
                consumer.name, consumer.kind, upstream, consumer.start_from
            )
        elif isinstance(worker, ConsumerWorker):
            consumer = worker.consumer
            await runtime.checkpoints.register(consumer.name, consumer.kind, consumer.start_from)
