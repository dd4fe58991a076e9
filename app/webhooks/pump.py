"""The delivery pump: each process claims due deliveries and sends them, many at a time.

Up to ``concurrency`` attempts are in flight per process, at most ``per_subscription`` of them
for one subscription, so a slow or dead receiver holds only its own share and never stalls
the others. Each subscription also has a ready queue of as many claimed deliveries again, so
a finished attempt starts the next at once and one claim brings a batch. The pump wakes when
the dispatcher queues deliveries (NOTIFY), when a subscription's queue runs half empty, or
when the next retry falls due; it polls anyway.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.background.tasks import cancel_and_wait
from app.background.worker import PollingWorker
from app.db.group_commit import GroupCommit
from app.db.outages import OUTAGE_ERRORS
from app.journal.cloudevents import CloudEvent
from app.relay.log import EventLog
from app.webhooks.deliveries import DELIVERY_CHANNEL, Claimed, Deliveries, Result
from app.webhooks.http1 import Http1Pool
from app.webhooks.schedule import next_delay, parse_retry_after
from app.webhooks.sender import Attempt, new_client, send
from app.webhooks.settings import WebhookSettings
from app.webhooks.subscriptions import WEBHOOK_CHANNEL, Signing, Subscriptions

# A claimed delivery waiting for a slot: the body to send and its trace headers.
Ready = tuple[Claimed, bytes, dict[str, str]]

log = logging.getLogger("sluice.webhooks")
steps = logging.getLogger("sluice.steps")

SIGNING_CACHE_SECONDS = 5.0  # a change also clears it at once (NOTIFY)
# A claim outlives the attempt (bounded by the timeout) by this much, to record its result.
# Longer only delays the retry after a process dies mid-attempt.
LEASE_MARGIN_SECONDS = 5.0
# Each subscription keeps up to READY_DEPTH times its concurrency claimed: its slots, and a
# queue that starts the next attempt the moment one frees, refilled (one claim, a batch) once
# it is down to REFILL_BELOW times. A claim's lease covers the wait in that queue too: at most
# READY_DEPTH - 1 rounds of attempts, each bounded by the timeout. Measured with one
# subscription at 10 in flight: 2x/1x sends 1,094 deliveries/s, 4x/3x 1,317-1,488/s.
READY_DEPTH = 4
REFILL_BELOW = 3


class DeliveryPump(PollingWorker):
    name = "webhook-pump"
    channels = (DELIVERY_CHANNEL,)

    def __init__(
        self,
        deliveries: Deliveries,
        subscriptions: Subscriptions,
        event_log: EventLog,
        listener: Listener,
        settings: WebhookSettings,
        worker_settings: WorkerSettings,
        *,
        on_attempt: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(listener=listener, settings=worker_settings)
        self.deliveries = deliveries
        self.on_attempt = on_attempt  # told each attempt's outcome (Attempt.outcome())
        self.subscriptions = subscriptions
        self.event_log = event_log
        self.settings = settings
        self.per_subscription = settings.subscription_concurrency
        self.schedule = settings.schedule()
        self.allow_private = bool(settings.allow_private)
        self._held: Counter[uuid.UUID] = Counter()  # claimed: queued or being attempted
        self._recording: set[asyncio.Task[None]] = set()
        self._running: Counter[uuid.UUID] = Counter()
        self._ready: dict[uuid.UUID, deque[Ready]] = defaultdict(deque)
        self._tasks: set[asyncio.Task[None]] = set()
        self._signing: dict[uuid.UUID, tuple[float, Signing | None]] = {}
        # One pool of keep-alive connections per subscription, sized to its share: one
        # receiver's connections never crowd out another's.
        self._clients: dict[uuid.UUID, Http1Pool] = {}
        # Results that finish together are written together: one statement, one commit.
        self._results = GroupCommit(self._record, max_batch=200, max_in_flight=2)
        listener.on_payload(WEBHOOK_CHANNEL, lambda _: self._signing.clear())

    async def step(self) -> float | None:
        if await self._claim_and_send():
            return 0  # every free slot was filled: there may be more
        # Due but held back (a full subscription, an ordered entity's earlier event) wakes
        # us when a slot frees; a future retry when it falls due.
        wait = await self.deliveries.seconds_to_next()
        return None if wait is None else min(max(0.0, wait), self.poll_interval)

    async def close(self) -> None:
        for task in list(self._tasks):
            await cancel_and_wait(task)
        if self._recording:  # results already in hand: write them before leaving
            await asyncio.wait(self._recording, timeout=5)
        queued = [delivery.id for queue in self._ready.values() for delivery, _, _ in queue]
        self._ready.clear()
        if queued:  # never attempted here: free them for another process now
            try:
                await self.deliveries.release(queued)
            except OUTAGE_ERRORS as error:
                log.warning("webhooks: could not release %d claims (%s)", len(queued), error)
        for client in self._clients.values():
            await client.close()
        self._clients.clear()

    async def _claim_and_send(self) -> bool:
        """Claim up to twice the slots (a ready queue, so a slot that frees starts the next
        attempt without a round trip); True if the claim came back full."""
        free = 2 * self.settings.concurrency - sum(self._held.values())
        if free <= 0:
            return False
        claimed = await self.deliveries.claim(
            free,
            per_webhook=READY_DEPTH * self.per_subscription,
            in_flight=dict(self._held),
            # Queued ones wait for a slot before their attempt: the lease covers both.
            lease=READY_DEPTH * self.settings.timeout_seconds + LEASE_MARGIN_SECONDS,
        )
        bodies = await self.event_log.by_seq([d.seq for d in claimed if d.seq is not None])
        for delivery in claimed:
            event = bodies.get(delivery.seq) if delivery.seq is not None else None
            body = (
                event.model_dump_json().encode() if event is not None else _payload_bytes(delivery)
            )
            self._held[delivery.webhook_id] += 1
            self._ready[delivery.webhook_id].append((delivery, body, trace_headers(event)))
        self._start_ready()
        return bool(claimed) and len(claimed) == free

    def _start_ready(self) -> None:
        for webhook_id in list(self._ready):
            queue = self._ready[webhook_id]
            while (
                queue
                and self._running[webhook_id] < self.per_subscription
                and len(self._tasks) < self.settings.concurrency
            ):
                delivery, body, trace = queue.popleft()
                self._running[webhook_id] += 1
                task = asyncio.create_task(self._deliver(delivery, body, trace))
                self._tasks.add(task)
                task.add_done_callback(lambda done, d=delivery: self._finished(done, d))
            if not queue:
                del self._ready[webhook_id]

    def _finished(self, task: asyncio.Task[None], delivery: Claimed) -> None:
        self._tasks.discard(task)
        webhook_id = delivery.webhook_id
        for counts in (self._running, self._held):
            counts[webhook_id] -= 1
            if counts[webhook_id] <= 0:
                del counts[webhook_id]
        self._start_ready()
        # Claim again once a quarter of a subscription's claims are done, not after every
        # attempt: one claim then brings a batch.
        if self._held.get(webhook_id, 0) <= REFILL_BELOW * self.per_subscription:
            self.wake()

    async def _deliver(self, delivery: Claimed, body: bytes, trace: dict[str, str]) -> None:
        try:
            signing = await self._signing_for(delivery.webhook_id)
            if signing is None:  # deleted meanwhile: its deliveries went with it
                client = self._clients.pop(delivery.webhook_id, None)
                if client is not None:
                    await client.close()
                return
            answer = await self._attempt(delivery, signing, body, trace)
            if self.on_attempt is not None:
                self.on_attempt(answer.outcome())
            _log_attempt(delivery, answer, trace)
            result = self._judge(delivery, answer)
            # The slot frees now; the result joins the next batch write. Until it is written
            # the delivery stays leased, so nobody sends it again meanwhile.
            recording = asyncio.create_task(self._results.append(result))
            self._recording.add(recording)
            recording.add_done_callback(self._recorded)
        except OUTAGE_ERRORS as error:  # the lease expires and the delivery is tried again
            log.warning("webhooks: could not record delivery %d (%s)", delivery.id, error)
        except Exception:
            log.exception("webhooks: delivery %d failed unexpectedly", delivery.id)

    async def _attempt(
        self, delivery: Claimed, signing: Signing, body: bytes, trace: dict[str, str]
    ) -> Attempt:
        """Send once. Whatever goes wrong is an answer to record: an attempt that only logged
        its error would leave the delivery leased, then send it again, forever (and hold an
        ordered subscription's entity back the while)."""
        started = time.perf_counter()
        try:
            return await send(
                self._client_for(delivery.webhook_id),
                url=signing.url,
                message_id=str(delivery.event_id),
                body=body,
                trace=trace,
                secrets=signing.secrets(datetime.now(UTC)),
                within=self.settings.timeout_seconds,
                allow_private=self.allow_private,
            )
        except Exception as error:  # a case send() does not know: a bug to fix, still recorded
            log.exception("webhooks: delivery %d failed unexpectedly", delivery.id)
            latency_ms = round((time.perf_counter() - started) * 1000)
            error_text = f"unexpected {type(error).__name__}: {error}"[:1000]
            return Attempt(None, latency_ms, None, error_text, failure="error")

    def _recorded(self, task: asyncio.Task[None]) -> None:
        self._recording.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("webhooks: could not record a result (%s)", task.exception())

    def _client_for(self, webhook_id: uuid.UUID) -> Http1Pool:
        client = self._clients.get(webhook_id)
        if client is None:
            client = self._clients[webhook_id] = new_client(self.per_subscription)
        return client

    async def _record(self, results: Sequence[Result]) -> None:
        await self.deliveries.record(results, disable_after=self.settings.disable_after_seconds)

    def _judge(self, delivery: Claimed, answer: Attempt) -> Result:
        code = answer.status_code
        ok = code is not None and 200 <= code < 300
        gone = code == 410
        delay = None
        if not ok and not gone:
            retry_after = parse_retry_after(answer.retry_after) if code in (429, 503) else None
            delay = next_delay(self.schedule, delivery.attempts, retry_after)
        status = "succeeded" if ok else "pending" if delay is not None else "failed"
        error = answer.error
        if error is None and not ok:
            error = f"HTTP {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
        return Result(
            delivery=delivery,
            attempted_at=datetime.now(UTC),
            status_code=code,
            latency_ms=answer.latency_ms,
            body=answer.body,
            error=error,
            status=status,
            delay=delay,
            gone=gone,
        )

    async def _signing_for(self, webhook_id: uuid.UUID) -> Signing | None:
        cached = self._signing.get(webhook_id)
        now = time.monotonic()
        if cached is not None and now - cached[0] < SIGNING_CACHE_SECONDS:
            return cached[1]
        signing = await self.subscriptions.signing(webhook_id)
        self._signing[webhook_id] = (now, signing)
        return signing


def _log_attempt(delivery: Claimed, answer: Attempt, trace: dict[str, str]) -> None:
    steps.info(
        "webhook %s delivery %d: %s",
        delivery.webhook_id,
        delivery.id,
        answer.status_code or answer.error,
        extra={
            "fields": {
                "step": "webhook-attempt",
                "webhook_id": str(delivery.webhook_id),
                "delivery_id": delivery.id,
                "event_id": str(delivery.event_id),
                "status": answer.status_code,
                "outcome": answer.outcome(),
                "latency_ms": answer.latency_ms,
                "correlation_id": trace.get("x-correlation-id"),
            }
        },
    )


def trace_headers(event: CloudEvent | None) -> dict[str, str]:
    """The event's correlation id and trace context, for the receiver to follow the trail."""
    headers = {}
    if event is not None and event.correlationid:
        headers["x-correlation-id"] = event.correlationid
    if event is not None and event.traceparent:
        headers["traceparent"] = event.traceparent
    return headers


def _payload_bytes(delivery: Claimed) -> bytes:
    return json.dumps(delivery.payload, separators=(",", ":")).encode()
