"""A view or action of this service fed by a Kafka topic instead of the producer's HTTP stream.

The same handlers, the same public event models and the same guarantees as a subscription
read over HTTP; what Kafka adds is scale by partition. Every process running the consumer
joins one consumer group (named after the service and the consumer), Kafka shares the
topic's partitions among them, and each partition is a consumer of its own here: a
checkpoint row ``{consumer}@{partition}`` (cursor = the next offset to read), moved in the
same transaction as a view's rows, so the effect is exactly once whatever Kafka's own
committed offsets say (they are written too, but only as a hint for other tools). A
partition that fails is pinned on its offset and retried with backoff while the other
partitions go on; an operator pauses, resumes or skips it at ``/consumers/{name}@{partition}``.

On assignment each partition starts at its checkpoint (the group may have moved it between
processes: a rebalance or a killed member), so nothing is applied twice or skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from confluent_kafka import (
    OFFSET_BEGINNING,
    OFFSET_END,
    Consumer,
    KafkaError,
    KafkaException,
    TopicPartition,
)

from app.background.leadership import process_identity
from app.background.settings import WorkerSettings
from app.background.tasks import describe
from app.background.worker import PollingWorker
from app.db.outages import OUTAGE_ERRORS
from app.kafka.messages import NotACloudEvent, from_message
from app.kafka.settings import KafkaSettings
from app.relay.checkpoints import Checkpoints
from app.relay.consumer import HandlerFailed, PositionMoved
from app.relay.log import LoggedEvent, UndecodableEvent
from app.relay.settings import ConsumerSettings
from app.relay.sql import CONTROL_CHANNEL
from app.upstream.decoding import PublicEvents, Row

log = logging.getLogger("sluice.kafka")

POLL_SLICE_SECONDS = 0.1  # a consume call returns at least this often (stop, control)
# librdkafka defaults this service's settings (SLUICE_KAFKA_CONFIG) may change: a fetch the
# broker holds for 100 ms when nothing is there (Kafka's 500 ms delays every catch-up start).
CONSUMER_DEFAULTS = {"fetch.wait.max.ms": 100}
ASSIGN_TIMEOUT_SECONDS = 30.0
BROKER_DOWN = frozenset({KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._RESOLVE})
APPLIED_SEQ = "SELECT upstream_seq FROM checkpoints WHERE name = %(name)s"
PARTITION_STATE = """
SELECT name, position, paused FROM checkpoints WHERE name = ANY(%(names)s)
"""


def partition_name(consumer: str, partition: int) -> str:
    return f"{consumer}@{partition}"


class GoneFromTopic(Exception):
    """Messages this consumer had not read are no longer in the topic."""


@dataclass
class Unreadable:
    """A message that is no CloudEvent: held in its row so the consumer is pinned on it."""

    reason: str


class PartitionLog:
    """What a partition's consumer decodes its rows with: they come decoded already."""

    def __init__(self, events: PublicEvents, where: str) -> None:
        self.events = events
        self.where = where

    def decode(self, row: Row) -> LoggedEvent:
        cursor, event = row
        if isinstance(event, LoggedEvent):
            return event
        if isinstance(event, Unreadable):
            raise UndecodableEvent(f"{self.where} offset {cursor - 1}: {event.reason}")
        return self.events.decode(row)


class PartitionCheckpoints(Checkpoints):
    """A partition's checkpoint moves with the producer's seq of the last event applied, in
    the same statement (a view's: in its rows' transaction). A publisher that crashed sends
    a batch again; its messages come after the first copies with seqs not above that one,
    and are passed over: the effect stays exactly once."""

    def __init__(self, pool: Any) -> None:
        super().__init__(pool)
        self.batch: list[tuple[int, int]] = []  # (cursor, producer seq) of the batch's rows

    def upstream_seq(self, position: int) -> int | None:
        seqs = [seq for cursor, seq in self.batch if cursor <= position]
        return max(seqs) if seqs else None


@dataclass
class Partition:
    number: int
    name: str
    consumer: Any  # the view projector or action consumer for this partition alone
    checkpoints: PartitionCheckpoints
    position: int = 0  # the next offset to read (the checkpoint)
    paused: bool = False  # by an operator
    retry_at: float | None = None  # failing: when to read from the checkpoint again
    applied_seq: int | None = None  # the producer's seq of the last event applied
    newest_seq: int | None = None  # the same, counting the batch being read
    first_offset: int | None = None  # of the first message taken since it was assigned


class TopicWorker(PollingWorker):
    channels = (CONTROL_CHANNEL,)

    def __init__(
        self,
        consumer: Any,
        *,
        events: PublicEvents,
        topic: str,
        group: str,
        kafka: KafkaSettings,
        checkpoints: Checkpoints,
        settings: ConsumerSettings,
        worker_settings: WorkerSettings,
        listener: Any,
        metrics: Any = None,
    ) -> None:
        super().__init__(listener=listener, settings=worker_settings)
        self.consumer = consumer  # the template: each partition runs a copy of its own
        self.name = consumer.name
        self.events = events
        self.topic = topic
        self.group = group
        self.kafka = kafka
        self.checkpoints = checkpoints
        self.settings = settings
        self.metrics = metrics  # app.observe.metrics.Metrics, or None
        self.partitions: dict[int, Partition] = {}
        self.consumed = 0  # messages applied, for metrics and tests
        self.broker_error: str | None = None
        self.identity = process_identity()  # shown as the leader of the partitions it holds
        self._client: Consumer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._commits: list[TopicPartition] = []
        self._consuming: asyncio.Future[list[Any]] | None = None

    @property
    def upstream(self) -> str:
        return f"kafka:{self.topic}"

    # -- the loop ---------------------------------------------------------------------------
    async def step(self) -> float | None:
        if self._client is None:
            self._loop = asyncio.get_running_loop()
            self._client = await asyncio.to_thread(self._subscribe)
        await self._control()
        # Shielded: a worker stopped mid-call lets the call end (it takes at most a poll
        # slice) before closing the client, so it leaves the group instead of being waited
        # for by the others until its session times out.
        self._consuming = asyncio.ensure_future(asyncio.to_thread(self._consume))
        messages = await asyncio.shield(self._consuming)
        by_partition: dict[int, list[Any]] = defaultdict(list)
        for message in messages:
            error = message.error()
            if error is None:
                by_partition[message.partition()].append(message)
            elif error.code() in (KafkaError._AUTO_OFFSET_RESET, KafkaError.OFFSET_OUT_OF_RANGE):
                await self._gone(message.partition())
        if messages and self.broker_error is not None:
            await self._broker_back()
        applying = [
            (partition, batch)
            for number, batch in by_partition.items()
            if (partition := self.partitions.get(number)) is not None
            and partition.retry_at is None
            and not partition.paused
        ]
        for partition, batch in applying:
            if partition.first_offset is None:
                partition.first_offset = batch[0].offset()
        await self._apply_all(applying)
        return 0 if messages else None

    async def _apply_all(self, applying: list[tuple[Partition, list[Any]]]) -> None:
        """The partitions' batches side by side: each is a consumer of its own (its own
        checkpoint, transaction and connection), so one decodes while another's commit
        waits on the database. The first error stops the others (each rolls back)."""
        if len(applying) == 1:
            await self._apply(*applying[0])
            return
        tasks = [asyncio.ensure_future(self._apply(p, batch)) for p, batch in applying]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _subscribe(self) -> Consumer:
        config = CONSUMER_DEFAULTS | self.kafka.client(
            **{
                "group.id": self.group,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                # A checkpoint the topic no longer holds (retention deleted the messages
                # after it) is an error to show, never a silent jump over lost events.
                "auto.offset.reset": "error",
                "client.id": self.name,
                "error_cb": self._broker_failed,
            }
        )
        client = Consumer(config)
        client.subscribe([self.topic], on_assign=self._assigned, on_revoke=self._revoked)
        return client

    def _consume(self) -> list[Any]:
        """One consume call (in a thread: librdkafka blocks), after sending the offset hints
        of what the database has committed since the last call."""
        assert self._client is not None
        commits, self._commits = self._commits, []
        if commits:
            try:
                self._client.commit(offsets=commits, asynchronous=True)
            except Exception as error:  # a hint only: the checkpoints are what count
                log.debug("%s: offset hint not committed: %s", self.name, error)
        # What is queued already, at once; when nothing is, wait for the first message only
        # (a consume call for a whole batch waits until the batch is full or time is up).
        batch = self.kafka.consume_batch
        messages = self._client.consume(batch, 0)
        if not messages:
            messages = self._client.consume(1, POLL_SLICE_SECONDS)
            if messages:
                messages += self._client.consume(batch - 1, 0)
        return list(messages)

    async def on_outage(self, error: BaseException) -> None:
        """A step that failed (the database went away, a write failed) may have taken
        messages from Kafka that it did not apply: every partition reads again from what it
        last committed, or the next consume would carry it on past them."""
        if self._client is None or not self.partitions:
            return
        restart = []
        for partition in self.partitions.values():
            partition.consumer.reset()
            restart.append(TopicPartition(self.topic, partition.number, self._restart(partition)))
        await asyncio.to_thread(self._seek_each, restart)

    def _restart(self, partition: Partition) -> int:
        """The offset to read a partition from again: its checkpoint; before its first
        commit, the first message it took (or where it was to start)."""
        if partition.position > 0:
            return partition.position
        if partition.first_offset is not None:
            return partition.first_offset
        return OFFSET_END if self.consumer.start_from == "now" else OFFSET_BEGINNING

    def _seek_each(self, restart: list[TopicPartition]) -> None:
        assert self._client is not None
        for tp in restart:
            try:
                self._client.seek(tp)
            except KafkaException:  # not fetching yet, or stopped on an error
                self._reassign()
                return

    async def close(self) -> None:
        if self._consuming is not None:
            with contextlib.suppress(Exception):
                await self._consuming
        client, self._client = self._client, None
        if client is not None:
            await asyncio.to_thread(client.close)  # leaves the group: the others take over

    # -- assignment (called by librdkafka inside consume, on its thread) -----------------
    def _assigned(self, client: Consumer, assigned: list[TopicPartition]) -> None:
        assert self._loop is not None
        opened = asyncio.run_coroutine_threadsafe(self._open(assigned), self._loop)
        positions = opened.result(ASSIGN_TIMEOUT_SECONDS)
        for tp in assigned:
            tp.offset = positions[tp.partition]
        client.assign(assigned)
        held = [tp for tp in assigned if self.partitions[tp.partition].paused]
        if held:  # paused by an operator: stays so in this process too
            client.pause(held)
        log.info("%s: partitions %s assigned", self.name, sorted(positions))

    def _revoked(self, client: Consumer, revoked: list[TopicPartition]) -> None:
        for tp in revoked:
            self.partitions.pop(tp.partition, None)
        client.unassign()
        log.info("%s: partitions %s revoked", self.name, sorted(tp.partition for tp in revoked))

    async def _open(self, assigned: list[TopicPartition]) -> dict[int, int]:
        """Each assigned partition's consumer, from its checkpoint: the offset to read next."""
        offsets: dict[int, int] = {}
        for tp in assigned:
            name = partition_name(self.name, tp.partition)
            await self.checkpoints.register_upstream(name, self.consumer.kind, self.upstream)
            await self.checkpoints.record_leader(name, self.identity)
            position, paused, _ = await self.checkpoints.upstream_progress(name)
            checkpoints = PartitionCheckpoints(self.checkpoints.pool)
            consumer = self._partition_consumer(name, checkpoints)
            partition = Partition(tp.partition, name, consumer, checkpoints, position, paused)
            partition.applied_seq = await self._applied_seq(name)
            self.partitions[tp.partition] = partition
            if position > 0:
                offsets[tp.partition] = position
            elif self.consumer.start_from == "now":
                offsets[tp.partition] = OFFSET_END
            else:
                offsets[tp.partition] = OFFSET_BEGINNING
        return offsets

    def _partition_consumer(self, name: str, checkpoints: PartitionCheckpoints) -> Any:
        where = f"{self.topic}[{name.rsplit('@', 1)[1]}]"
        consumer = self.consumer.for_partition(name, PartitionLog(self.events, where))
        consumer.checkpoints = checkpoints
        return consumer

    async def _applied_seq(self, name: str) -> int | None:
        async with self.checkpoints.pool.connection() as conn:
            cursor = await conn.execute(APPLIED_SEQ, {"name": name})
            row = await cursor.fetchone()
        return None if row is None or row[0] is None else int(row[0])

    # -- a partition's batch ------------------------------------------------------------------
    async def _apply(self, partition: Partition, batch: list[Any]) -> None:
        """A partition's batch; when it fails in a way no handler owns (a write the database
        refused), its messages one at a time, each in a transaction of its own, so the
        partition is pinned on the very message that fails."""
        try:
            await self._apply_batch(partition, batch)
        except OUTAGE_ERRORS:
            raise
        except Exception as error:
            partition.consumer.reset()
            if len(batch) == 1:
                await self._failed(partition, batch[0].offset() + 1, error)
                return
            for message in batch:
                try:
                    if not await self._apply_batch(partition, [message]):
                        return  # pinned, or moved: read again from the checkpoint
                except OUTAGE_ERRORS:
                    raise
                except Exception as failed:
                    partition.consumer.reset()
                    await self._failed(partition, message.offset() + 1, failed)
                    return

    async def _apply_batch(self, partition: Partition, batch: list[Any]) -> bool:
        """False when the partition has to be read again from its checkpoint (pinned on a
        handler's failure, or moved by someone else)."""
        partition.checkpoints.batch, partition.newest_seq = [], partition.applied_seq
        rows = [row for message in batch if (row := self._row(message, partition)) is not None]
        upto = batch[-1].offset() + 1
        if upto <= partition.position:
            return True  # already applied (read again after a seek)
        try:
            await partition.consumer.process(partition.position, upto, rows)
        except PositionMoved:
            await self._reposition(partition)
            return False
        except HandlerFailed as failed:
            await self._failed(partition, failed.seq, failed.error)
            return False
        partition.applied_seq = partition.checkpoints.upstream_seq(upto) or partition.applied_seq
        self.consumed += len(batch)
        if self.metrics is not None:
            self.metrics.kafka_consumed(self.name, self.topic, len(batch))
        partition.position = upto
        self._commits.append(TopicPartition(self.topic, partition.number, upto))
        await self._record_head(partition)
        return True

    def _row(self, message: Any, partition: Partition) -> Row | None:
        cursor = message.offset() + 1
        if cursor <= partition.position:
            return None
        try:
            event = from_message(
                message.key(), message.value(), message.headers(), message.timestamp()[1]
            )
        except NotACloudEvent as error:
            if self.events.subscription.ignore_unknown:
                return None
            return cursor, Unreadable(str(error))
        seq = event.get("seq")
        if isinstance(seq, int):  # a Sluice publisher's: its seqs only grow per partition
            newest = partition.newest_seq
            if newest is not None and seq <= newest:
                return None  # sent again after a publisher's crash: applied already
            partition.newest_seq = seq
            partition.checkpoints.batch.append((cursor, seq))
        if not self.events.reads(event):
            return None
        return self.events.decoded_ahead((cursor, event))

    async def _gone(self, number: int) -> None:
        """The partition's checkpoint is before the earliest message the topic still holds:
        pinned there, with what a skip does (carry on from the earliest still there)."""
        partition = self.partitions.get(number)
        if partition is None or partition.retry_at is not None:
            return
        tp = TopicPartition(self.topic, number)
        try:
            low, _ = await asyncio.to_thread(self._watermarks, tp)
        except Exception:  # the broker cannot say now: tried again after the backoff
            low = partition.position + 1
        lost = GoneFromTopic(
            f"offsets {partition.position}..{low - 1} of {self.topic}[{number}] are gone"
            f" (retention or compaction deleted them before this consumer read them); skip"
            f" to carry on from offset {low}, the earliest the topic still holds"
        )
        await self._failed(partition, max(low, partition.position + 1), lost)

    def _watermarks(self, tp: TopicPartition) -> tuple[int, int]:
        assert self._client is not None
        low, high = self._client.get_watermark_offsets(tp, timeout=5)
        return int(low), int(high)

    async def _failed(self, partition: Partition, cursor: int, error: BaseException) -> None:
        """Pin the partition on the failing message: read again from the checkpoint (what
        came before it is committed) after the backoff; the other partitions go on."""
        attempts = await self.checkpoints.record_failure(partition.name, cursor, describe(error))
        delay = self.settings.backoff(attempts)
        log.error(
            "%s: failed at offset %d (attempt %d, next in %.1fs): %s",
            partition.name,
            cursor - 1,
            attempts,
            delay,
            describe(error),
        )
        partition.retry_at = time.monotonic() + delay
        await self._reposition(partition, pause=True)

    async def _reposition(self, partition: Partition, *, pause: bool = False) -> None:
        """Read the partition again from its checkpoint (an operator's skip or rewind, or
        a failure), optionally held until its retry is due."""
        partition.consumer.reset()
        partition.position = await self.checkpoints.position(partition.name) or 0
        partition.applied_seq = await self._applied_seq(partition.name)
        tp = TopicPartition(self.topic, partition.number, partition.position)
        await asyncio.to_thread(self._seek, tp, pause)

    def _seek(self, tp: TopicPartition, pause: bool) -> None:
        assert self._client is not None
        if pause:
            self._client.pause([tp])
        try:
            self._client.seek(tp)
        except KafkaException:
            # A partition whose fetch stopped on an error (its offset out of range) takes no
            # seek: assign this process's partitions again, each at its checkpoint.
            self._reassign()

    def _reassign(self) -> None:
        assert self._client is not None
        owned = [
            TopicPartition(self.topic, p.number, self._restart(p)) for p in self.partitions.values()
        ]
        try:
            self._client.assign(owned)
            held = [
                TopicPartition(self.topic, p.number)
                for p in self.partitions.values()
                if p.paused or p.retry_at is not None
            ]
            if held:
                self._client.pause(held)
        except KafkaException as error:  # revoked meanwhile: the new owner starts right
            log.warning("%s: cannot assign %s again: %s", self.name, owned, error)

    async def _control(self) -> None:
        """Operators' pauses, skips and rewinds, and failing partitions whose retry is due."""
        if not self.partitions:
            return
        names = {p.name: p for p in self.partitions.values()}
        async with self.checkpoints.pool.connection() as conn:
            cursor = await conn.execute(PARTITION_STATE, {"names": list(names)})
            stored = await cursor.fetchall()
        now = time.monotonic()
        for name, position, paused in stored:
            partition = names[name]
            tp = TopicPartition(self.topic, partition.number, int(position))
            due = partition.retry_at is not None and partition.retry_at <= now
            resumed = partition.paused and not paused
            if paused and not partition.paused:
                partition.paused = True
                await asyncio.to_thread(self._pause, tp)
            # Messages fetched while paused or waiting were passed over: read from the
            # checkpoint again whenever it moved, a retry is due, or a pause ends.
            if resumed or due or int(position) != partition.position:
                partition.paused = bool(paused)
                partition.retry_at = None
                await self._reposition(partition)
                if not partition.paused:
                    await asyncio.to_thread(self._resume, tp)

    def _pause(self, tp: TopicPartition) -> None:
        assert self._client is not None
        self._client.pause([tp])

    def _resume(self, tp: TopicPartition) -> None:
        assert self._client is not None
        self._client.resume([tp])

    async def _record_head(self, partition: Partition) -> None:
        """The partition's high watermark, as the head its lag is counted against."""
        assert self._client is not None
        tp = TopicPartition(self.topic, partition.number)
        try:
            _, high = self._client.get_watermark_offsets(tp, cached=True)
        except Exception:  # not known yet: the next batch records it
            return
        if high >= 0:
            caught_up = partition.position >= high
            await self.checkpoints.upstream_reached(partition.name, high, caught_up=caught_up)

    # -- the broker -------------------------------------------------------------------------
    def _broker_failed(self, error: KafkaError) -> None:
        """librdkafka's error callback (its thread): a broker that cannot be reached."""
        if error.code() not in BROKER_DOWN or self._loop is None:
            return
        self.broker_error = str(error.str())
        if self.metrics is not None:
            self.metrics.kafka_broker_error(self.name)
        asyncio.run_coroutine_threadsafe(self._show_broker_error(), self._loop)

    async def _show_broker_error(self) -> None:
        for partition in list(self.partitions.values()):
            await self.checkpoints.upstream_failed(partition.name, f"{self.broker_error}")

    async def _broker_back(self) -> None:
        self.broker_error = None
        for partition in list(self.partitions.values()):
            await self.checkpoints.broker_reached(partition.name)
