"""A public stream published to a Kafka topic: a consumer of this service's own log.

It runs on the consumer runner like a view or an action (one leader across processes, its
checkpoint in ``checkpoints``, pause, resume, skip, lag in ``GET /consumers``), so all it
adds is the send: each batch of the log is transformed exactly as ``GET /streams/{id}``
serves it, produced with an idempotent producer (``acks=all``, keyed by entity id), and the
checkpoint moves only once the broker has acknowledged every message of the batch.

At-least-once: a crash (or a batch that timed out) sends the batch again from the
checkpoint; a message's ``ce_id`` is the event id, so a consumer drops the second copy. While
the broker does not answer, librdkafka keeps retrying the messages it holds and the
consumer's status says ``broker-unavailable``; nothing else in the service waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from app.kafka.messages import to_message
from app.kafka.settings import KafkaSettings
from app.public.reader import PublicCloudEvent, PublicStream, PublisherFailed
from app.relay.checkpoints import Checkpoints
from app.relay.consumer import HandlerFailed, PositionMoved, RetryLater
from app.relay.log import Row

log = logging.getLogger("sluice.kafka")

FLUSH_SLICE_SECONDS = 1.0  # how often a wait for acknowledgements looks up (status, stop)


def publisher_name(stream_id: str) -> str:
    return f"{stream_id}-to-kafka"


class BrokerUnavailable(Exception):
    """Messages the broker did not acknowledge; the message says why."""


class TopicPublisher:
    kind = "publisher"
    start_from = "beginning"

    def __init__(
        self,
        stream: PublicStream,
        topic: str,
        *,
        settings: KafkaSettings,
        checkpoints: Checkpoints,
        backoff: Any,
        metrics: Any = None,
    ) -> None:
        self.stream = stream
        self.topic = topic
        self.name = publisher_name(stream.stream.id)
        self.log_types = stream.log_types
        self.settings = settings
        self.checkpoints = checkpoints
        self.backoff = backoff  # attempts -> seconds, the consumers' own curve
        self.metrics = metrics  # app.observe.metrics.Metrics, or None
        self.failures = 0
        self._shown_unavailable = False  # the status says broker-unavailable
        self.produced = 0  # messages acknowledged, for metrics and tests
        self._producer: Producer | None = None
        self._lock = threading.Lock()  # produce and flush from worker threads, one at a time

    def reset(self) -> None:
        """Nothing held in memory between batches."""

    def producer(self) -> Producer:
        if self._producer is None:
            timeout_ms = int(self.settings.delivery_timeout_seconds * 1000)
            self._producer = Producer(
                self.settings.client(
                    **{
                        "enable.idempotence": True,
                        "acks": "all",
                        "linger.ms": 5,
                        "message.timeout.ms": timeout_ms,
                        "client.id": self.name,
                    }
                )
            )
        return self._producer

    async def process(self, after: int, upto: int, rows: list[Row]) -> None:
        events, failure = self._published(rows)
        end = failure[0] - 1 if failure else upto
        if events:
            try:
                await self._send(events)
            except BrokerUnavailable as error:
                self.failures += 1
                delay = self.backoff(self.failures)
                if self.failures == 1 or self.failures % 10 == 0:
                    log.warning(
                        "%s: %s (attempt %d, again in %.1fs)",
                        self.name,
                        error,
                        self.failures,
                        delay,
                    )
                await self._unavailable(str(error))
                await asyncio.sleep(delay)
                raise RetryLater(str(error)) from None
        if self.failures or self._shown_unavailable:
            log.info("%s: the broker acknowledges again", self.name)
            self.failures, self._shown_unavailable = 0, False
            await self.checkpoints.broker_reached(self.name)
        if not await self.checkpoints.advance_from(self.name, after, end):
            raise PositionMoved(f"{self.name} was moved while it published ({after}, {end}]")
        if failure is not None:
            raise HandlerFailed(*failure)

    async def _unavailable(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.kafka_broker_error(self.name)
        self._shown_unavailable = True
        await self.checkpoints.upstream_failed(self.name, reason)

    def _published(
        self, rows: list[Row]
    ) -> tuple[list[PublicCloudEvent], tuple[int, BaseException] | None]:
        """The public events of ``rows`` up to the first that cannot be published."""
        events: list[PublicCloudEvent] = []
        for row in rows:
            try:
                event = self.stream.published(row)
            except PublisherFailed as failed:
                return events, (row[0], failed.__cause__ or failed)
            if event is not None:
                events.append(event)
        return events, None

    async def _send(self, events: list[PublicCloudEvent]) -> None:
        """Produce ``events`` in order and wait until the broker acknowledged every one."""
        outcome = _Acks()
        messages = [to_message(event) for event in events]
        await asyncio.to_thread(self._produce, messages, outcome)
        while True:
            remaining = await asyncio.to_thread(self._flush)
            if remaining == 0:
                break
            await self._unavailable(f"{remaining} messages not acknowledged yet")
        if outcome.errors:
            raise BrokerUnavailable(f"{len(outcome.errors)} messages failed: {outcome.errors[0]}")
        self.produced += len(events)
        if self.metrics is not None:
            self.metrics.kafka_produced(self.name, self.topic, len(events))

    def _produce(self, messages: list[tuple[bytes, bytes, Any]], outcome: _Acks) -> None:
        with self._lock:
            producer = self.producer()
            for key, value, headers in messages:
                while True:
                    try:
                        producer.produce(
                            self.topic, value, key, headers=headers, on_delivery=outcome.delivered
                        )
                        break
                    except BufferError:  # librdkafka's queue is full: let it drain
                        producer.poll(0.1)
                    except KafkaException as error:
                        outcome.failed(error.args[0] if error.args else error)
                        return

    def _flush(self) -> int:
        with self._lock:
            return int(self.producer().flush(FLUSH_SLICE_SECONDS))


class _Acks:
    """Delivery reports of one batch (librdkafka calls back from ``flush``)."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def delivered(self, error: KafkaError | None, _message: Any) -> None:
        if error is not None:
            self.errors.append(str(error))

    def failed(self, error: Any) -> None:
        self.errors.append(str(error))
