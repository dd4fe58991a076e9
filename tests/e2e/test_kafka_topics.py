"""Public streams over Kafka: the ward publishes its alerts stream to a topic, outreach reads
the topic instead of the ward's HTTP stream. A real Kafka-protocol cluster over TCP (librdkafka's
mock brokers in a `sluice kafka-dev` process), the production client on both sides."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.support.kafka import DevBroker, topic_name
from tests.support.system import System, two_services
from tests.support.system_processes import deteriorate
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(180)


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevBroker]:
    started = DevBroker(tmp_path_factory.mktemp("kafka"))
    yield started
    started.close()


def over_kafka(broker: DevBroker, topic: str) -> dict[str, dict[str, Any]]:
    servers = {"kafka_bootstrap_servers": broker.bootstrap}
    return {
        "ward_extra": {**servers, "kafka_publish": {"alerts": topic}},
        "outreach_extra": {**servers, "kafka_subscribe": {"ward/alerts": topic}},
    }


async def partitions_caught_up(outreach: httpx.AsyncClient, name: str, topic: str) -> list[dict]:
    async def probe() -> list[dict] | None:
        statuses = (await outreach.get("/consumers")).json()
        mine = [s for s in statuses if s["name"].startswith(f"{name}@")]
        ready = mine and all(s["lag_events"] == 0 and s["checkpoint"] > 0 for s in mine)
        return mine if ready and sum(s["checkpoint"] for s in mine) >= 40 else None

    found = await eventually(probe, 60, f"{name}'s partitions caught up")
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

            await partitions_caught_up(outreach, "ward-alerts", topic)
            await partitions_caught_up(outreach, "alert-callouts", topic)
            await _callouts_requested(system, outreach, 20)

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
