"""Everything a process runs in the background, built and stopped in one place.

Start order follows the data's path: the listener (so no wake-up is missed), the sequencer
(outbox → seq), the log hub (WebSocket clients), then the consumers (views, actions) and the
timer worker. Stop order is the reverse, so nothing runs on a closed pool.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from psycopg_pool import AsyncConnectionPool

from app.actions.runner import ActionConsumer
from app.api.metrics import Metrics
from app.journal.commands import CommandRunner
from app.relay.checkpoints import Checkpoints
from app.relay.consumer import Consumer, ConsumerSettings, ConsumerWorker
from app.relay.consumer_log import ConsumerLog
from app.relay.leadership import Leadership
from app.relay.listener import Listener
from app.relay.sequencer import Sequencer
from app.relay.sql import (
    CHECKPOINT_CHANNEL,
    CONTROL_CHANNEL,
    DELIVERY_CHANNEL,
    LOG_CHANNEL,
    OUTBOX_CHANNEL,
    TIMER_CHANNEL,
    WEBHOOK_CHANNEL,
)
from app.sdk.service import Service
from app.settings import Settings
from app.stream.hub import LogHub
from app.stream.log import EventLog
from app.timers.store import TimerStore
from app.timers.worker import TimerWorker
from app.views.consistency import CheckpointWatch
from app.views.projector import ViewProjector
from app.views.rebuild import Rebuilds, ViewRebuild
from app.views.schema import ensure_table
from app.webhooks.deliveries import Deliveries
from app.webhooks.dispatcher import WebhookDispatcher
from app.webhooks.pump import DeliveryPump, PumpSettings
from app.webhooks.schedule import parse_schedule
from app.webhooks.subscriptions import Subscriptions

CHANNELS = (
    OUTBOX_CHANNEL,
    LOG_CHANNEL,
    CHECKPOINT_CHANNEL,
    CONTROL_CHANNEL,
    TIMER_CHANNEL,
    WEBHOOK_CHANNEL,
    DELIVERY_CHANNEL,
)


@dataclass
class Workers:
    listener: Listener
    sequencer: Sequencer
    hub: LogHub
    leadership: Leadership
    checkpoints: Checkpoints
    watch: CheckpointWatch
    rebuilds: Rebuilds
    timer_worker: TimerWorker
    webhook_pump: DeliveryPump
    consumers: list[ConsumerWorker] = field(default_factory=list)
    stopped: bool = False

    async def start(self, service: Service, pool: AsyncConnectionPool) -> None:
        async with pool.connection() as conn:
            for view in service.view_types.values():
                await ensure_table(conn, view)
        for worker in self.consumers:
            await self.checkpoints.register(worker.name, worker.consumer.kind)
        self.listener.start()
        self.sequencer.start()
        await self.hub.start()
        self.leadership.start()
        for worker in self.consumers:
            worker.start()
        self.timer_worker.start()
        self.webhook_pump.start()

    async def stop(self) -> None:
        """Idempotent: a graceful drain stops the workers early, the lifespan again."""
        if self.stopped:
            return
        self.stopped = True
        await self.webhook_pump.stop()
        await self.rebuilds.stop()
        await self.timer_worker.stop()
        for worker in self.consumers:
            await worker.stop()
        await self.leadership.stop()
        await self.hub.stop()
        await self.sequencer.stop()
        await self.listener.stop()


def build_workers(
    settings: Settings,
    service: Service,
    *,
    conninfo: str,
    pool: AsyncConnectionPool,
    listener: Listener,
    runner: CommandRunner,
    event_log: EventLog,
    metrics: Metrics | None = None,
) -> Workers:
    checkpoints = Checkpoints(pool)
    consumer_log = ConsumerLog(pool, service)
    leadership = Leadership(conninfo, retry_interval=settings.leader_retry_seconds)
    watch = CheckpointWatch(pool, checkpoints, listener, poll_interval=settings.relay_poll_seconds)
    timer_store = TimerStore(pool)
    consumer_settings = ConsumerSettings(
        batch_size=settings.consumer_batch_size,
        poll_interval=settings.relay_poll_seconds,
        min_interval=settings.consumer_min_interval_seconds,
        backoff_initial=settings.consumer_backoff_initial_seconds,
        backoff_max=settings.consumer_backoff_max_seconds,
    )
    consumers: list[Consumer] = [
        ViewProjector(
            view,
            service,
            pool=pool,
            checkpoints=checkpoints,
            consumer_log=consumer_log,
            cache_size=settings.view_cache_size,
            on_advanced=watch.note,
        )
        for view in service.view_types.values()
    ]
    consumers.append(WebhookDispatcher(pool, checkpoints))
    consumers += [
        ActionConsumer(
            action,
            service,
            pool=pool,
            runner=runner,
            checkpoints=checkpoints,
            consumer_log=consumer_log,
            timers=timer_store,
        )
        for action in service.action_types.values()
    ]

    def make_rebuild(view):  # type: ignore[no-untyped-def]
        return ViewRebuild(
            view,
            conninfo=conninfo,
            pool=pool,
            checkpoints=checkpoints,
            consumer_log=consumer_log,
            log_types=service.log_types(view.handlers),
            batch_size=settings.consumer_batch_size,
        )

    return Workers(
        listener=listener,
        sequencer=Sequencer(
            conninfo,
            listener,
            batch_size=settings.sequencer_batch_size,
            poll_interval=settings.relay_poll_seconds,
            standby_interval=settings.leader_retry_seconds,
            on_batch=metrics.sequencer_batch.observe if metrics else None,
        ),
        hub=LogHub(
            event_log,
            listener,
            buffer_size=settings.log_buffer_size,
            poll_interval=settings.relay_poll_seconds,
        ),
        leadership=leadership,
        checkpoints=checkpoints,
        watch=watch,
        rebuilds=Rebuilds(make_rebuild),
        timer_worker=TimerWorker(
            timer_store, runner, listener, poll_interval=settings.relay_poll_seconds
        ),
        webhook_pump=DeliveryPump(
            Deliveries(pool),
            Subscriptions(pool),
            event_log,
            listener,
            PumpSettings(
                concurrency=settings.webhook_concurrency,
                per_subscription=settings.webhook_subscription_concurrency,
                timeout=settings.webhook_timeout_seconds,
                schedule=parse_schedule(settings.webhook_retry_schedule),
                allow_private=settings.allows_private_webhooks(),
                disable_after=settings.webhook_disable_after_seconds,
                poll_interval=settings.relay_poll_seconds,
            ),
            on_attempt=metrics.webhook_attempt if metrics else None,
        ),
        consumers=[
            ConsumerWorker(
                consumer,
                checkpoints=checkpoints,
                consumer_log=consumer_log,
                leadership=leadership,
                listener=listener,
                settings=consumer_settings,
            )
            for consumer in consumers
        ],
    )
