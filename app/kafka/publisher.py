"""A public stream published to a Kafka topic: a consumer of this service's own log.

It runs on the consumer runner like a view or an action (one leader across processes, its
checkpoint in ``checkpoints``, pause, resume, skip, lag in ``GET /consumers``), so all it
adds is the send: each batch of the log is transformed exactly as ``GET /streams/{id}``
serves it, produced with an idempotent producer (``acks=all``, keyed by entity id), and the
checkpoint moves past a batch only once the broker has acknowledged every message of it
and of the batches before it.

The publisher does not wait for a batch's acknowledgements before reading and sending the
next: up to ``WINDOW`` batches are in flight, so the broker's round trips overlap the
decoding and transforming of the next batch (waiting for each batch in turn left the
process idle for a third of a catch-up). Its runner reads on from the end of what it sent,
not from the checkpoint; whatever resets it (a failure, a lost lead, an operator's skip)
drops what is in flight, and the next batch starts at the checkpoint again.

At-least-once: a crash (or a batch that timed out) sends the batch again from the
checkpoint; a message's ``ce_id`` is the event id, so a consumer drops the second copy. While
the broker does not answer, librdkafka keeps retrying the messages it holds and the
consumer's status says ``broker-unavailable``; nothing else in the service waits on it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from app.kafka.messages import to_message
from app.kafka.settings import KafkaSettings
from app.public.reader import PublicCloudEvent, PublicStream, PublisherFailed
from app.relay.checkpoints import Checkpoints
from app.relay.consumer import ConsumerWorker, HandlerFailed, PositionMoved, RetryLater
from app.relay.log import Row

log = logging.getLogger("sluice.kafka")

SHOW_UNACKNOWLEDGED_SECONDS = 1.0  # a wait for acknowledgements this long shows in the status
POLL_SLICE_SECONDS = 0.1  # one wait for delivery reports (a stop is seen this often)
WINDOW = 3  # batches sent whose acknowledgements are still awaited, at most
# A message is never given up on: librdkafka retries it until the broker takes it, and the
# status says broker-unavailable meanwhile. A message that timed out would be skipped by the
# idempotent producer while later ones go on (librdkafka's documented gap), and a Sluice
# consumer, which passes over a seq it has seen pass, would then never apply its re-send.
# For the same reason an error that could leave a gap stops the producer (a fatal error):
# the publisher makes a new one and sends again from the checkpoint, in order.
PRODUCER = {
    "enable.idempotence": True,
    "acks": "all",
    "linger.ms": 5,
    "message.timeout.ms": 0,  # infinite
    "enable.gapless.guarantee": True,
}


def publisher_name(stream_id: str) -> str:
    return f"{stream_id}-to-kafka"


class BrokerUnavailable(Exception):
    """Messages the broker did not acknowledge; the message says why. ``fatal``: the
    producer can send no more (librdkafka's fatal error)."""

    def __init__(self, message: str, *, fatal: bool = False) -> None:
        super().__init__(message)
        self.fatal = fatal


class TopicPublisher:
    kind = "publisher"
    reads_log = True
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
        self._lock = threading.Lock()  # produce and poll from worker threads, one at a time
        self._sent: deque[_Sent] = deque()  # oldest first; the checkpoint is the first's start

    def reset(self) -> None:
        """Forget the batches in flight: they are read and sent again from the checkpoint
        (at-least-once; a consumer drops the second copy by ``ce_id`` or ``ce_seq``)."""
        self._sent.clear()

    @property
    def in_flight(self) -> bool:
        """Batches sent whose acknowledgements the checkpoint still waits for."""
        return bool(self._sent)

    def reading_from(self, checkpoint: int) -> int:
        """Where the next batch starts: after the batches sent, whose acknowledgements the
        checkpoint waits for; at the checkpoint when it is not where they started (an
        operator moved it, or another process published meanwhile)."""
        if self._sent and self._sent[0].after != checkpoint:
            self.reset()
        return self._sent[-1].end if self._sent else checkpoint

    def producer(self) -> Producer:
        if self._producer is None:
            self._producer = Producer(self.settings.client(**PRODUCER, **{"client.id": self.name}))
        return self._producer

    async def process(self, after: int, upto: int, rows: list[Row]) -> None:
        events, failure = self._published(rows)
        sent = _Sent(after, failure[0] - 1 if failure else upto, len(events))
        try:
            if events:
                messages = [to_message(event) for event in events]
                refused = await asyncio.to_thread(self._produce, messages, sent.acks)
                if refused is not None:  # nothing after it was sent: it must go first
                    failure = self._refused(events[refused]["seq"], sent)
            self._sent.append(sent)
            # Before a failing event: everything up to it acknowledged and checkpointed,
            # then the failure recorded on it. Otherwise only the window is waited for.
            await self._settle(keep=0 if failure else WINDOW)
        except BrokerUnavailable as error:
            await self._back_off(error)
            raise RetryLater(str(error)) from None
        if failure is not None:
            raise HandlerFailed(*failure)

    def _refused(self, seq: int, sent: _Sent) -> tuple[int, BaseException]:
        """A message ``produce`` refused. One no broker will ever take (too large, say) is
        that event's failure: pinned on its seq with the reason, for an operator to skip,
        once what came before it is acknowledged. Anything else is the broker's."""
        error = sent.acks.refusal
        if error is None or error.retriable() or error.fatal():
            raise BrokerUnavailable(
                f"a message was refused: {sent.acks.errors[-1]}", fatal=sent.acks.fatal
            )
        sent.end = seq - 1
        sent.acks.errors.clear()
        return seq, KafkaException(error)

    async def settle(self) -> None:
        """Nothing more to read now: wait for the batches in flight and move the checkpoint
        past them. A broker that does not take them is shown and waited out (its backoff);
        the next batch starts from the checkpoint again."""
        try:
            await self._settle(keep=0)
        except BrokerUnavailable as error:
            await self._back_off(error)
            self.reset()
        except PositionMoved:
            self.reset()

    async def _settle(self, keep: int) -> None:
        """Move the checkpoint past the acknowledged batches at the front, waiting for the
        oldest until at most ``keep`` batches are left unacknowledged."""
        await asyncio.to_thread(self._poll, 0)  # delivery reports already in: served
        while True:
            await self._advance()
            if len(self._sent) <= keep:
                return
            await self._wait(self._sent[0].acks)

    async def _advance(self) -> None:
        """The checkpoint past every acknowledged batch at the front, in one statement."""
        done: list[_Sent] = []
        for sent in self._sent:
            if not sent.acks.done or sent.acks.errors:
                break
            done.append(sent)
        if done:
            first, last = done[0], done[-1]
            if not await self.checkpoints.advance_from(self.name, first.after, last.end):
                self.reset()
                raise PositionMoved(
                    f"{self.name} was moved while it published ({first.after}, {last.end}]"
                )
            for _ in done:
                self._sent.popleft()
            await self._acknowledged(sum(sent.count for sent in done))
        if self._sent and self._sent[0].acks.done:  # reported, with errors
            acks = self._sent[0].acks
            raise BrokerUnavailable(
                f"{len(acks.errors)} messages failed: {acks.errors[0]}", fatal=acks.fatal
            )

    async def _wait(self, acks: _Acks) -> None:
        """Until ``acks`` are all in; past each ``SHOW_UNACKNOWLEDGED_SECONDS`` the status says how
        many the broker has not acknowledged yet (librdkafka retries them meanwhile)."""
        shown_at = time.monotonic()
        while not acks.done:
            await asyncio.to_thread(self._poll, POLL_SLICE_SECONDS)
            if not acks.done and time.monotonic() - shown_at >= SHOW_UNACKNOWLEDGED_SECONDS:
                shown_at = time.monotonic()
                await self._unavailable(f"{acks.pending} messages not acknowledged yet")

    async def _acknowledged(self, count: int) -> None:
        self.produced += count
        if self.metrics is not None and count:
            self.metrics.kafka_produced(self.name, self.topic, count)
        if self.failures or self._shown_unavailable:
            log.info("%s: the broker acknowledges again", self.name)
            self.failures, self._shown_unavailable = 0, False
            await self.checkpoints.broker_reached(self.name)

    async def _back_off(self, error: BrokerUnavailable) -> None:
        self.reset()
        if error.fatal:  # the producer takes no more messages: the next batch makes one
            producer, self._producer = self._producer, None
            if producer is not None:
                await asyncio.to_thread(_discard, producer)
        self.failures += 1
        delay = self.backoff(self.failures)
        if self.failures == 1 or self.failures % 10 == 0:
            log.warning(
                "%s: %s (attempt %d, again in %.1fs)", self.name, error, self.failures, delay
            )
        await self._unavailable(str(error))
        await asyncio.sleep(delay)

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

    def _produce(self, messages: list[tuple[bytes, bytes, Any]], acks: _Acks) -> int | None:
        """Produce ``messages`` in order; the index of one ``produce`` refused (none after it
        is sent), or None."""
        with self._lock:
            producer = self.producer()
            for index, (key, value, headers) in enumerate(messages):
                while True:
                    try:
                        producer.produce(
                            self.topic, value, key, headers=headers, on_delivery=acks.delivered
                        )
                        break
                    except BufferError:  # librdkafka's queue is full: let it drain
                        producer.poll(0.1)
                    except KafkaException as error:
                        # None after it is sent: it would arrive before this one's retry.
                        refusal = error.args[0] if error.args else error
                        acks.failed(refusal, unsent=len(messages) - index)
                        acks.refusal = refusal if isinstance(refusal, KafkaError) else None
                        return index
            producer.poll(0)
        return None

    def _poll(self, timeout: float) -> None:
        with self._lock:
            self.producer().poll(timeout)


class PublisherWorker(ConsumerWorker):
    """A publisher's runner: it reads on past the checkpoint while the batches it sent wait
    for their acknowledgements, and lets the checkpoint catch up whenever it has nothing to
    read (caught up with the log, or paused)."""

    consumer: TopicPublisher

    async def _progress(self) -> tuple[int, bool, int]:
        checkpoint, paused, head = await super()._progress()
        position = self.consumer.reading_from(checkpoint)
        if (paused or head <= position) and self.consumer.in_flight:
            await self.consumer.settle()
            return await super()._progress()
        return position, paused, head


class _Acks:
    """Delivery reports of one batch (librdkafka calls back from ``poll``)."""

    def __init__(self, count: int) -> None:
        self.pending = count  # messages not reported yet
        self.errors: list[str] = []
        self.fatal = False  # an error the producer cannot go on after
        self.refusal: KafkaError | None = None  # why ``produce`` refused a message

    @property
    def done(self) -> bool:
        return self.pending <= 0

    def delivered(self, error: KafkaError | None, _message: Any) -> None:
        self.pending -= 1
        if error is not None:
            self.failed(error, unsent=0)

    def failed(self, error: Any, *, unsent: int) -> None:
        """An error: a delivery report's, or a message ``produce`` refused (``unsent``
        messages that will get no report)."""
        self.pending -= unsent
        self.errors.append(str(error))
        self.fatal = self.fatal or (isinstance(error, KafkaError) and error.fatal())


@dataclass
class _Sent:
    """A batch sent: the range of the log it covers and its messages' reports."""

    after: int
    end: int
    count: int
    acks: _Acks = field(init=False)

    def __post_init__(self) -> None:
        self.acks = _Acks(self.count)


def _discard(producer: Producer) -> None:
    """Let a producer with a fatal error go (what it still holds has failed already)."""
    producer.flush(0)
