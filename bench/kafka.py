"""Public streams over Kafka: what publishing and consuming through a broker costs.

A `sluice kafka-dev` cluster (librdkafka's mock brokers, in their own process) between two
`sluice serve` processes, the ward (A) and outreach (B), each on its own database.

  * publish: --events public events (AlertRaised then AlertResolved per patient) already in
    A's log (30,000 by default: librdkafka's mock brokers keep about 5 MB per partition and
    delete the oldest past that, so 100,000 of these would not all be there to read).
    A's `alerts-to-kafka` publisher sends them to a fresh topic (checkpoint moved once the
    broker acknowledged each batch); next to it, the baseline: a bare
    `confluent-kafka` producer loop with the same settings (idempotent, acks=all) sending the
    very same messages, built beforehand, to another fresh topic.
  * consume: B's `ward-alerts` view reads the topic the publisher filled (its partitions
    side by side, each in its own transaction with its checkpoint), timed from when B's
    process was assigned the partitions; the baseline is A's own `open-alerts` view
    catching up the same events from A's log, timed from its resume.
  * Each trial has a broker of its own.

Targets (issue 16): publishing >= 70 % of the bare producer; a topic into a view >= 50 % of
the local log into a view.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from confluent_kafka import Consumer, Producer

from app.kafka.messages import to_message
from app.kafka.publisher import PRODUCER
from bench.database import BenchDatabase, bench_database
from bench.report import table
from bench.streams import (
    OUTREACH_OTHERS,
    QUIET,
    WARD_OTHERS,
    alert_backlog,
    databases,
    hold,
    status,
    timed_catch_up,
)
from tests.support.auth import AUTH_HEADERS
from tests.support.kafka import DevBroker
from tests.support.servers import SluiceProcess


def bare_producer(bootstrap: str, topic: str, messages: list[tuple[bytes, bytes, Any]]) -> float:
    """The baseline: the same messages through a plain produce loop; seconds until all acked."""
    producer = Producer({"bootstrap.servers": bootstrap, **PRODUCER})
    producer.produce(f"{topic}.warm", b"x")  # connect and create first, as the publisher has
    producer.flush(30)
    failed: list[Any] = []

    def delivered(error: Any, _message: Any) -> None:
        if error is not None:
            failed.append(error)

    started = time.perf_counter()
    for key, value, headers in messages:
        while True:
            try:
                producer.produce(topic, value, key, headers=headers, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
    assert producer.flush(120) == 0 and not failed, failed[:1]
    return time.perf_counter() - started


def bare_consumer(bootstrap: str, topic: str, count: int) -> float:
    """What the broker delivers to a plain consumer: ``count`` messages, seconds from the
    first (the group's join left out, as the view's timing leaves it out)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:8]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    seen, started = 0, None
    deadline = time.monotonic() + 120
    try:
        while seen < count and time.monotonic() < deadline:
            messages = consumer.consume(5000, 0.5)
            if messages and started is None:
                started = time.perf_counter()
            seen += sum(1 for message in messages if message.error() is None)
    finally:
        consumer.close()
    if started is None or seen < count:
        raise RuntimeError(f"a plain consumer read {seen} of {count} messages of {topic}")
    return time.perf_counter() - started


def published_messages(ward_url: str, head: int) -> list[tuple[bytes, bytes, Any]]:
    """A's public stream as Kafka messages, exactly as its publisher builds them."""
    found: list[tuple[bytes, bytes, Any]] = []
    after = 0
    with httpx.Client(headers=AUTH_HEADERS, timeout=60) as http:
        while after < head:
            page = http.get(f"{ward_url}/streams/alerts", params={"after": after, "limit": 5000})
            body = page.json()
            found += [to_message(event) for event in body["events"]]
            after = body["next_after"]
    return found


def partitions_applied(database_url: str, name: str, events: int, started: float) -> float:
    """Seconds until the positions of ``name``'s partitions add up to ``events``."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT COALESCE(sum(position), 0), count(failing_seq) FROM checkpoints"
                " WHERE name LIKE %s",
                [f"{name}@%"],
            ).fetchone()
            assert row is not None
            if row[1]:
                raise RuntimeError(f"{name}: a partition is failing")
            if row[0] >= events:
                return time.perf_counter() - started
            time.sleep(0.02)


def assigned(database_url: str, name: str, partitions: int) -> float:
    """When the consumer's process held every partition (each records its holder as it is
    assigned, then starts reading it), seen within a few milliseconds."""
    deadline = time.monotonic() + 120
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(
                "SELECT count(*) FROM checkpoints WHERE name LIKE %s AND leader IS NOT NULL",
                [f"{name}@%"],
            ).fetchone()
            if row is not None and row[0] >= partitions:
                return time.perf_counter()
            time.sleep(0.003)
    raise RuntimeError(f"{name}: its partitions were never assigned")


def one_run(db: BenchDatabase, broker: DevBroker, events: int) -> dict[str, float]:
    ward_db, outreach_db = databases(db)
    asyncio.run(alert_backlog(ward_db, events))
    topic = f"bench.alerts.{uuid.uuid4().hex[:8]}"
    hold(ward_db, ("open-alerts", *WARD_OTHERS))
    hold(ward_db, ("alerts-to-kafka",), kind="publisher")
    kafka = {
        "SLUICE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        # The previous trial's consumer was killed, not stopped: its group drops it quickly.
        "SLUICE_KAFKA_CONFIG": '{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}',
    }
    ward = SluiceProcess(
        {**QUIET, **kafka, "DATABASE_URL": ward_db, "SLUICE_KAFKA_PUBLISH": f"alerts={topic}"},
        Path("/tmp"),
    )
    processes = [ward]
    try:
        ward.wait_ready(120)
        while status(ward.url, "open-alerts")["head"] < events:  # sequenced
            time.sleep(0.1)
        head = status(ward.url, "open-alerts")["head"]
        messages = published_messages(ward.url, head)
        with psycopg.connect(ward_db, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

        bare = bare_producer(broker.bootstrap, f"{topic}.bare", messages)
        started = time.perf_counter()
        httpx.post(f"{ward.url}/consumers/alerts-to-kafka/resume", headers=AUTH_HEADERS)
        publish = timed_catch_up(ward_db, "alerts-to-kafka", head, started)

        plain = bare_consumer(broker.bootstrap, topic, len(messages))

        started = time.perf_counter()
        httpx.post(f"{ward.url}/consumers/open-alerts/resume", headers=AUTH_HEADERS)
        local = timed_catch_up(ward_db, "open-alerts", head, started)

        hold(outreach_db, OUTREACH_OTHERS)
        hold(outreach_db, tuple(f"alert-callouts@{n}" for n in range(64)), kind="action")
        outreach = SluiceProcess(
            {
                **QUIET,
                **kafka,
                "DATABASE_URL": outreach_db,
                "SLUICE_SERVICE": "app.services.outreach:service",
                "SLUICE_KAFKA_SUBSCRIBE": f"ward/alerts={topic}",
            },
            Path("/tmp"),
        )
        processes.append(outreach)
        # Timed from the partitions' assignment, when the view starts reading them: not
        # paused and resumed, as the local view is, because librdkafka takes ~0.5 s to
        # fetch again for a resumed partition (measured with a bare consumer on the same
        # broker), a third of this whole run.
        started = assigned(outreach_db, "ward-alerts", partitions=4)
        consumed = partitions_applied(outreach_db, "ward-alerts", len(messages), started)
        outreach.wait_ready(120)
    finally:
        for process in processes:
            process.close()
    return {
        "events": float(len(messages)),
        "bare": len(messages) / bare,
        "publish": len(messages) / publish,
        "local": head / local,
        "consume": len(messages) / consumed,
        "plain": len(messages) / plain,
    }


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench kafka", description=__doc__)
    parser.add_argument(
        "--events",
        type=int,
        default=30_000,
        help="public events in the log (the development broker keeps ~5 MB per partition:"
        " past ~40,000 of these events it deletes the oldest before they are read)",
    )
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args(argv)
    runs = []
    with bench_database() as db:
        for _ in range(args.trials):
            # A broker of its own per trial: the development broker slows as it fills (a
            # second trial on the same one read its topics at a third of the first's speed).
            broker = DevBroker(Path("/tmp") / f"sluice-bench-kafka-{uuid.uuid4().hex[:6]}")
            try:
                runs.append(one_run(db, broker, args.events))
            finally:
                broker.close()
    rows = []
    for index, run in enumerate(runs, 1):
        rows.append(
            (
                index,
                f"{run['bare']:,.0f}",
                f"{run['publish']:,.0f}",
                f"{run['publish'] / run['bare']:.2f}",
                f"{run['local']:,.0f}",
                f"{run['plain']:,.0f}",
                f"{run['consume']:,.0f}",
                f"{run['consume'] / run['local']:.2f}",
            )
        )
    table(
        f"{int(runs[0]['events']):,} public events through Kafka (events/s)",
        [
            "trial",
            "bare producer",
            "publisher",
            "vs bare",
            "local view",
            "bare consumer",
            "topic view",
            "vs local",
        ],
        rows,
    )
    publish = statistics.median(run["publish"] / run["bare"] for run in runs)
    consume = statistics.median(run["consume"] / run["local"] for run in runs)
    print(f"median publisher / bare producer: {publish:.2f} (target >= 0.70)")
    print(f"median topic view / local view: {consume:.2f} (target >= 0.50)")
    return 0
