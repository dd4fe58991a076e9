"""Public streams over Kafka: the ward publishes its alerts stream to a topic, outreach reads
the topic instead of the ward's HTTP stream. A real Kafka-protocol cluster over TCP (librdkafka's
mock brokers in a `sluice kafka-dev` process), the production client on both sides."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.kafka import DevBroker, topic_name
from tests.support.system import System, row_where, two_services
from tests.support.system_processes import deteriorate
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(180)

# A member that went without leaving is dropped after 6 s, not Kafka's default 45 s.
QUICK_GROUPS = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevBroker]:
    started = DevBroker(tmp_path_factory.mktemp("kafka"))
    yield started
    started.close()


def over_kafka(broker: DevBroker, topic: str) -> dict[str, dict[str, Any]]:
    servers = {"kafka_bootstrap_servers": broker.bootstrap, "kafka_config": QUICK_GROUPS}
    return {
        "ward_extra": {**servers, "kafka_publish": {"alerts": topic}},
        "outreach_extra": {**servers, "kafka_subscribe": {"ward/alerts": topic}},
    }


async def partitions_caught_up(
    outreach: httpx.AsyncClient, name: str, topic: str, events: int = 40, seconds: float = 60
) -> list[dict]:
    """Every partition of ``name`` at its topic's head, ``events`` messages in all."""

    async def probe() -> list[dict] | None:
        statuses = (await outreach.get("/consumers")).json()
        mine = [s for s in statuses if s["name"].startswith(f"{name}@")]
        ready = mine and all(s["lag_events"] == 0 for s in mine)
        return mine if ready and sum(s["checkpoint"] for s in mine) >= events else None

    found = await eventually(probe, seconds, f"{name}'s partitions caught up")
    assert {s["upstream"] for s in found} == {f"kafka:{topic}"}
    assert {s["state"] for s in found} == {"running"}
    return found


def escalations(outreach_db: str) -> dict[int, int]:
    with psycopg.connect(outreach_db, autocommit=True) as conn:
        rows = conn.execute("SELECT escalations, count(*) FROM view_ward_alerts GROUP BY 1")
        return dict(rows.fetchall())


async def test_a_stream_published_to_a_topic_feeds_another_service_s_view_and_action(
    tmp_path: Path, database_url: str, outreach_database_url: str, broker: DevBroker
) -> None:
    topic = topic_name("ward.alerts")
    with two_services(
        tmp_path, database_url, outreach_database_url, **over_kafka(broker, topic)
    ) as system:
        async with system.client(system.ward) as ward, system.client(system.outreach) as outreach:
            await deteriorate(ward, range(20))  # 40 public events, two per patient

            async def published() -> dict | None:
                status = (await ward.get("/consumers/alerts-to-kafka")).json()
                done = status["checkpoint"] == status["head"] and status["head"] >= 40
                return status if done else None

            publisher = await eventually(published, 30, "the alerts stream published")
            assert publisher["kind"] == "publisher" and publisher["state"] == "running"
            page = (await ward.get("/streams/alerts", params={"after": 0, "limit": 1000})).json()

            shown = await partitions_caught_up(outreach, "ward-alerts", topic)
            await partitions_caught_up(outreach, "alert-callouts", topic)
            await _callouts_requested(system, outreach, 20)
            views = (await outreach.get("/views")).json()
            assert {v["name"] for v in views} >= {s["name"] for s in shown}
            metrics = (await outreach.get("/metrics")).text
            assert 'direction="consumed"' in metrics and f'topic="{topic}"' in metrics

    with psycopg.connect(outreach_database_url, autocommit=True) as conn:
        heads = conn.execute(  # each partition's head is its high watermark, read from Kafka
            "SELECT sum(upstream_head), sum(position) FROM checkpoints WHERE name LIKE %s",
            ["ward-alerts@%"],
        ).fetchone()
    assert heads == (40, 40)

    messages = broker.read_all(topic, len(page["events"]))
    assert sorted(_header(m, "ce_id") for m in messages) == sorted(e["id"] for e in page["events"])
    by_key: dict[bytes, list[int]] = defaultdict(list)
    for message in sorted(messages, key=lambda m: (m.partition(), m.offset())):
        by_key[message.key()].append(int(_header(message, "ce_seq")))
    assert all(seqs == sorted(seqs) for seqs in by_key.values())  # per entity, in order
    first = messages[0]
    assert _header(first, "ce_type") in {"ward.AlertRaised", "ward.AlertEscalated"}
    assert _header(first, "ce_source").endswith("/streams/alerts")
    assert _header(first, "content-type") == "application/json"
    assert escalations(outreach_database_url) == {1: 20}  # each event applied once


async def _callouts_requested(system: System, outreach: httpx.AsyncClient, count: int) -> None:
    async def probe() -> int | None:
        with psycopg.connect(system.outreach_db, autocommit=True) as conn:
            row = conn.execute(
                "SELECT count(*), count(DISTINCT entity_id) FROM events"
                " WHERE type = 'CalloutRequested'"
            ).fetchone()
        assert row is not None and row[0] == row[1]  # never twice for one patient
        return int(row[0]) if row[0] >= count else None

    assert await eventually(probe, 30, f"{count} callouts requested") == count


def _header(message: Any, name: str) -> str:
    return next(value.decode() for key, value in message.headers() if key == name)


async def test_a_foreign_producer_s_cloudevents_are_read_and_a_malformed_message_pins_its_partition(
    tmp_path: Path, database_url: str, outreach_database_url: str, broker: DevBroker
) -> None:
    topic = topic_name("ward.alerts")
    raised = {"ward": "W9", "risk": "medium", "score": 5, "episode": 1, "reasons": ["pulse"]}
    structured = {  # another team's producer, structured mode: the whole event as JSON
        "specversion": "1.0",
        "id": "7d0c35a8-6c7e-4a53-9a56-1f43f1c7e001",
        "source": "/elsewhere/alerts",
        "type": "ward.AlertRaised",
        "subject": "f1",
        "time": "2026-12-01T08:00:00+00:00",
        "datacontenttype": "application/json",
        "data": raised,
    }
    producer = broker.producer()
    producer.produce(
        topic,
        json.dumps(structured).encode(),
        b"f1",
        headers=[("content-type", b"application/cloudevents+json")],
    )
    producer.produce(topic, b"not an event at all", b"f1")  # the same key: the same partition
    escalated = {"risk": "high", "previous_risk": "medium", "score": 9, "reason": "risk-increased"}
    producer.produce(  # binary mode, as Sluice itself sends
        topic,
        json.dumps(escalated).encode(),
        b"f1",
        headers=[
            ("ce_specversion", b"1.0"),
            ("ce_id", b"7d0c35a8-6c7e-4a53-9a56-1f43f1c7e002"),
            ("ce_source", b"/elsewhere/alerts"),
            ("ce_type", b"ward.AlertEscalated"),
            ("ce_time", b"2026-12-01T08:01:00+00:00"),
            ("content-type", b"application/json"),
        ],
    )
    assert producer.flush(10) == 0

    with two_services(
        tmp_path, database_url, outreach_database_url, **over_kafka(broker, topic)
    ) as system:
        async with system.client(system.outreach) as outreach:

            async def stuck() -> dict | None:
                statuses = (await outreach.get("/consumers")).json()
                failing = [
                    s for s in statuses if s["name"].startswith("ward-alerts@") and s["failing_seq"]
                ]
                return failing[0] if failing else None

            pinned = await eventually(stuck, 30, "ward-alerts pinned on the malformed message")
            assert pinned["state"] == "failing" and pinned["failing_seq"] == 2  # offset 1
            assert "offset 1" in pinned["error"] and "not a CloudEvent" in pinned["error"]
            row = (await outreach.get("/views/ward-alerts/f1")).json()
            assert (row["ward"], row["risk"], row["escalations"]) == ("W9", "medium", 0)

            rebuild = await outreach.post("/views/ward-alerts/rebuild")
            assert rebuild.status_code == 409, rebuild.text
            assert rebuild.json()["type"].endswith("rebuild-from-topic")

            skipped = await outreach.post(f"/consumers/{pinned['name']}/skip", params={"seq": 2})
            assert skipped.status_code == 200, skipped.text

            async def escalated_row() -> dict | None:
                answer = (await outreach.get("/views/ward-alerts/f1")).json()
                return answer if answer["risk"] == "high" else None

            after = await eventually(escalated_row, 30, "the escalation after the skipped message")
            assert after["escalations"] == 1
            status = (await outreach.get(f"/consumers/{pinned['name']}")).json()
            assert status["state"] == "running" and status["checkpoint"] == 3
            assert status["parked"] == 1


async def test_a_broker_that_stops_answering_for_20_s_loses_nothing_and_holds_nothing_else_up(
    tmp_path: Path, database_url: str, outreach_database_url: str
) -> None:
    # Batches of 3: while the broker is frozen, several batches are sent and in flight, and
    # none of them may move the checkpoint.
    async with system_on_a_broker_of_its_own(
        tmp_path, database_url, outreach_database_url, kafka_publish_batch=3
    ) as (broker, topic, ward, outreach):
        await deteriorate(ward, range(10))
        before = await _published_to_head(ward, 20)
        await partitions_caught_up(outreach, "ward-alerts", topic, events=20)

        broker.freeze()  # SIGSTOP: the brokers stop answering, connections hang
        frozen_at = time.monotonic()
        try:
            await deteriorate(ward, range(10, 20))  # commands do not wait on Kafka
            await row_where(ward, "/views/open-alerts/p19", risk="high")  # nor views

            async def shown() -> dict | None:
                status = (await ward.get("/consumers/alerts-to-kafka")).json()
                return status if status["state"] == "broker-unavailable" else None

            during = await eventually(shown, 15, "the publisher broker-unavailable")
            assert during["checkpoint"] == before["checkpoint"]  # nothing unacked
            assert during["lag_events"] == 20
            # The outage itself lasts 20 s (a duration to hold, not a condition to await).
            await asyncio.sleep(max(0.0, frozen_at + 20 - time.monotonic()))
            status = (await ward.get("/consumers/alerts-to-kafka")).json()
            assert status["checkpoint"] == before["checkpoint"]
        finally:
            broker.thaw()

        after = await _published_to_head(ward, 40, seconds=90)
        assert after["state"] == "running" and after["upstream_error"] is None
        await partitions_caught_up(outreach, "ward-alerts", topic, events=40, seconds=90)
        messages = broker.read_all(topic, 40)
    assert escalations(outreach_database_url) == {1: 20}
    assert len({_header(m, "ce_id") for m in messages}) == 40


async def test_an_event_no_broker_will_take_pins_the_publisher_on_it_until_skipped(
    tmp_path: Path, database_url: str, outreach_database_url: str, broker: DevBroker
) -> None:
    """Too large for the producer's message.max.bytes: not a broker outage to wait out but
    that event's failure, shown on its seq with the reason; what came before it is
    published and checkpointed, and a skip carries on after it."""
    topic = topic_name("ward.alerts")
    settings = over_kafka(broker, topic)
    settings["ward_extra"]["kafka_config"] = {**QUICK_GROUPS, "message.max.bytes": "1500"}
    with two_services(tmp_path, database_url, outreach_database_url, **settings) as system:
        async with system.client(system.ward) as ward, system.client(system.outreach) as outreach:
            await deteriorate(ward, range(2))  # 4 public events
            resolved = await ward.post("/entities/alert/p0/resolve", json={"note": "n" * 1900})
            assert resolved.status_code == 200, resolved.text
            await deteriorate(ward, range(2, 4))  # 4 more after it

            async def pinned() -> dict | None:
                status = (await ward.get("/consumers/alerts-to-kafka")).json()
                return status if status["state"] == "failing" else None

            status = await eventually(pinned, 30, "the publisher pinned on the large event")
            assert "MSG_SIZE_TOO_LARGE" in status["error"]
            stuck = status["failing_seq"]
            assert status["checkpoint"] == stuck - 1  # everything before it acknowledged
            assert (await ward.get("/events", params={"after": stuck - 1, "limit": 1})).json()[
                "events"
            ][0]["type"] == "alert.AlertResolved"

            skipped = await ward.post("/consumers/alerts-to-kafka/skip", params={"seq": stuck})
            assert skipped.status_code == 200, skipped.text
            after = await _published_to_head(ward, stuck + 4)
            assert after["state"] == "running"
            await partitions_caught_up(outreach, "ward-alerts", topic, events=8)
            messages = broker.read_all(topic, 8)
    assert len(messages) == 8
    assert "ward.AlertResolved" not in {_header(m, "ce_type") for m in messages}


# A trigger of the test's own on outreach's view: while test_failing holds a row, a write of
# the patients it names fails with that row's SQLSTATE (57P01, "the server is shutting down",
# is what a database going away mid-transaction looks like; P0001 is a plain refusal).
FAIL_WRITES = """
CREATE TABLE test_failing (patient_id text, sqlstate text);
CREATE FUNCTION test_fail_writes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE code text;
BEGIN
    SELECT sqlstate INTO code FROM test_failing
        WHERE patient_id = NEW.patient_id OR patient_id = '*' LIMIT 1;
    IF code IS NOT NULL THEN
        RAISE EXCEPTION 'injected: % cannot be written', NEW.patient_id USING ERRCODE = code;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_fail_writes BEFORE INSERT OR UPDATE ON view_ward_alerts
    FOR EACH ROW EXECUTE FUNCTION test_fail_writes();
"""


def failing(database_url: str, patient_id: str | None, sqlstate: str = "P0001") -> None:
    """The view's writes of ``patient_id`` ('*': every one) fail from now on; None: none."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM test_failing")
        if patient_id is not None:
            conn.execute("INSERT INTO test_failing VALUES (%s, %s)", [patient_id, sqlstate])


async def test_a_database_lost_in_the_middle_of_a_batch_loses_none_of_its_messages(
    tmp_path: Path, database_url: str, outreach_database_url: str, broker: DevBroker
) -> None:
    """Every write of outreach's view fails as a database shutting down does, so the topic
    consumer takes messages from Kafka and cannot apply them, again and again. Each time
    it must read them again from what it last committed, or the next consume carries it
    past them: lost, though its checkpoint reaches the head."""
    topic = topic_name("ward.alerts")
    with psycopg.connect(outreach_database_url, autocommit=True) as conn:
        conn.execute(FAIL_WRITES)
    with two_services(
        tmp_path, database_url, outreach_database_url, **over_kafka(broker, topic)
    ) as system:
        async with system.client(system.ward) as ward, system.client(system.outreach) as outreach:
            await deteriorate(ward, range(5))
            await partitions_caught_up(outreach, "ward-alerts", topic, events=10)
            failing(outreach_database_url, "*", sqlstate="57P01")
            await deteriorate(ward, range(5, 25))
            await _published_to_head(ward, 50)
            await asyncio.sleep(2)  # a duration to hold: batches taken, failed, retried
            assert escalations(outreach_database_url) == {1: 5}  # nothing more applied
            failing(outreach_database_url, None)
            await partitions_caught_up(outreach, "ward-alerts", topic, events=50)
    assert escalations(outreach_database_url) == {1: 25}  # every patient once


async def test_a_write_the_database_refuses_pins_its_partition_on_that_very_message(
    tmp_path: Path, database_url: str, outreach_database_url: str, broker: DevBroker
) -> None:
    """Not a handler's failure and not an outage: the batch is tried again one message at a
    time, and the partition stops on the message that fails, with the reason; the other
    partitions go on; once the write is accepted the partition carries on, each event once."""
    topic = topic_name("ward.alerts")
    with psycopg.connect(outreach_database_url, autocommit=True) as conn:
        conn.execute(FAIL_WRITES)
    failing(outreach_database_url, "p7")
    with two_services(
        tmp_path, database_url, outreach_database_url, **over_kafka(broker, topic)
    ) as system:
        async with system.client(system.ward) as ward, system.client(system.outreach) as outreach:
            await deteriorate(ward, range(20))

            async def pinned() -> dict | None:
                statuses = (await outreach.get("/consumers")).json()
                stuck = [s for s in statuses if s["name"].startswith("ward-alerts@")]
                stuck = [s for s in stuck if s["state"] == "failing"]
                return stuck[0] if stuck else None

            stuck = await eventually(pinned, 30, "a partition pinned on p7's alert")
            assert "injected: p7 cannot be written" in stuck["error"]
            offset = stuck["failing_seq"] - 1  # the cursor is the next offset: 1 past it
            pinned_on = broker.read_all(topic, 40)
            [message] = [
                m
                for m in pinned_on
                if m.partition() == int(stuck["name"].rsplit("@", 1)[1]) and m.offset() == offset
            ]
            assert message.key() == b"p7" and _header(message, "ce_type") == "ward.AlertRaised"
            assert stuck["checkpoint"] == offset  # everything before it applied

            async def others_caught_up() -> list[dict] | None:
                statuses = (await outreach.get("/consumers")).json()
                others = [
                    s
                    for s in statuses
                    if s["name"].startswith("ward-alerts@") and s["name"] != stuck["name"]
                ]
                return others if all(s["lag_events"] == 0 for s in others) else None

            others = await eventually(others_caught_up, 30, "the other partitions caught up")
            assert {s["state"] for s in others} == {"running"}

            failing(outreach_database_url, None)
            await partitions_caught_up(outreach, "ward-alerts", topic, events=40, seconds=90)
    assert escalations(outreach_database_url) == {1: 20}


@asynccontextmanager
async def system_on_a_broker_of_its_own(
    tmp_path: Path, database_url: str, outreach_database_url: str, **ward_settings: Any
) -> AsyncIterator[tuple[DevBroker, str, httpx.AsyncClient, httpx.AsyncClient]]:
    """The two services over a topic of a broker this test alone may freeze or stop."""
    broker, topic = DevBroker(tmp_path / "kafka"), topic_name("ward.alerts")
    kafka = over_kafka(broker, topic)
    kafka["ward_extra"].update(ward_settings)
    try:
        with two_services(tmp_path, database_url, outreach_database_url, **kafka) as system:
            async with (
                system.client(system.ward) as ward,
                system.client(system.outreach) as outreach,
            ):
                yield broker, topic, ward, outreach
    finally:
        broker.close()


async def _published_to_head(ward: httpx.AsyncClient, events: int, seconds: float = 30) -> dict:
    async def published() -> dict | None:
        status = (await ward.get("/consumers/alerts-to-kafka")).json()
        done = status["checkpoint"] == status["head"] >= events
        return status if done else None

    return await eventually(published, seconds, f"{events} alerts published")


async def test_events_gone_from_the_topic_before_they_were_read_stop_the_partition_visibly(
    tmp_path: Path, database_url: str, outreach_database_url: str, broker: DevBroker
) -> None:
    """Retention deleted what a consumer had not read yet: it says so and waits for an
    operator, instead of jumping silently to what is left."""
    topic, settings = topic_name("ward.alerts"), over_kafka(broker, topic_name("unused"))
    settings["outreach_extra"]["kafka_subscribe"] = {"ward/alerts": topic}
    producer = broker.producer(**{"linger.ms": 20})

    def raised(subject: str, padding: int = 0) -> None:
        data = {"ward": "W1", "risk": "medium", "score": 5, "episode": 1, "reasons": []}
        if padding:
            data["reasons"] = ["x" * padding]
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", str(uuid.uuid4()).encode()),
            ("ce_source", b"/elsewhere"),
            ("ce_type", b"ward.AlertRaised"),
            ("ce_subject", subject.encode()),
            ("content-type", b"application/json"),
        ]
        producer.produce(topic, json.dumps(data).encode(), b"one-key", headers=headers)

    raised("g0")
    assert producer.flush(10) == 0
    with two_services(tmp_path, database_url, outreach_database_url, **settings) as system:
        async with system.client(system.outreach) as outreach:
            await row_where(outreach, "/views/ward-alerts/g0", ward="W1")
    # While outreach is away, far more arrives than the (development) broker keeps.
    for n in range(12_000):
        raised(f"g{n + 1}", padding=1000)
        if n % 1000 == 0:
            producer.poll(0)
    assert producer.flush(60) == 0

    with two_services(tmp_path, database_url, outreach_database_url, **settings) as system:
        async with system.client(system.outreach) as outreach:

            async def gone() -> dict | None:
                found = [s for s in (await outreach.get("/consumers")).json() if s["failing_seq"]]
                mine = [s for s in found if s["name"].startswith("ward-alerts@")]
                return mine[0] if mine else None

            stuck = await eventually(gone, 60, "ward-alerts stopped at the lost messages")
            assert stuck["checkpoint"] == 1 and "are gone" in stuck["error"]
            assert (await outreach.get("/views/ward-alerts/g1")).status_code == 404
            skipped = await outreach.post(f"/consumers/{stuck['name']}/skip")
            assert skipped.status_code == 200, skipped.text
            await row_where(outreach, "/views/ward-alerts/g12000", ward="W1", seconds=60)
            status = (await outreach.get(f"/consumers/{stuck['name']}")).json()
            assert status["state"] == "running" and status["checkpoint"] == 12_001


async def test_a_batch_a_publisher_sent_again_is_applied_once_even_across_a_restart(
    tmp_path: Path, database_url: str, outreach_database_url: str, broker: DevBroker
) -> None:
    """After a crash a publisher sends its last batch again (at-least-once); the consumer
    passes over what it applied already, by the producer's seq kept with its checkpoint."""
    topic, settings = topic_name("ward.alerts"), over_kafka(broker, topic_name("unused"))
    settings["outreach_extra"]["kafka_subscribe"] = {"ward/alerts": topic}
    producer = broker.producer()
    raised = {"ward": "W3", "risk": "medium", "score": 5, "episode": 1, "reasons": []}
    escalated = {"risk": "high", "previous_risk": "medium", "score": 9, "reason": "risk-increased"}
    ids = {seq: str(uuid.uuid4()) for seq in (1, 2, 3)}

    def send(seq: int) -> None:
        kind, data = (
            ("ward.AlertRaised", raised) if seq == 1 else ("ward.AlertEscalated", escalated)
        )
        headers = [
            ("ce_specversion", b"1.0"),
            ("ce_id", ids[seq].encode()),
            ("ce_source", b"/sluice/ward/streams/alerts"),
            ("ce_type", kind.encode()),
            ("ce_subject", b"d1"),
            ("ce_seq", str(seq).encode()),
            ("content-type", b"application/json"),
        ]
        producer.produce(topic, json.dumps(data).encode(), b"d1", headers=headers)

    for seq in (1, 2, 2, 3, 2, 3):  # two copies of a batch sent again
        send(seq)
    assert producer.flush(10) == 0
    with two_services(tmp_path, database_url, outreach_database_url, **settings) as system:
        async with system.client(system.outreach) as outreach:
            row = await row_where(outreach, "/views/ward-alerts/d1", risk="high")
            await partitions_caught_up(outreach, "ward-alerts", topic, events=6)
            row = (await outreach.get("/views/ward-alerts/d1")).json()
            assert row["escalations"] == 2

    for seq in (2, 3):  # and once more while outreach is away
        send(seq)
    assert producer.flush(10) == 0
    with two_services(tmp_path, database_url, outreach_database_url, **settings) as system:
        async with system.client(system.outreach) as outreach:
            await partitions_caught_up(outreach, "ward-alerts", topic, events=8)
            row = (await outreach.get("/views/ward-alerts/d1")).json()
            assert row["escalations"] == 2


async def test_brokers_gone_turn_the_topic_consumers_broker_unavailable(
    tmp_path: Path, database_url: str, outreach_database_url: str
) -> None:
    async with system_on_a_broker_of_its_own(tmp_path, database_url, outreach_database_url) as (
        broker,
        topic,
        ward,
        outreach,
    ):
        await deteriorate(ward, range(3))
        await partitions_caught_up(outreach, "ward-alerts", topic, events=6)
        broker.close()  # every broker gone: connections refused from now on

        async def unavailable() -> list[dict] | None:
            statuses = (await outreach.get("/consumers")).json()
            mine = [s for s in statuses if s["name"].startswith("ward-alerts@")]
            down = [s for s in mine if s["state"] == "broker-unavailable"]
            return down if down and len(down) == len(mine) else None

        down = await eventually(unavailable, 30, "the partitions broker-unavailable")
        assert all(s["upstream_error"] for s in down)
        metrics = (await outreach.get("/metrics")).text
        assert "sluice_kafka_broker_errors_total" in metrics
