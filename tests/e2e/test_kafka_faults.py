"""Kafka topics through faults: real `sluice serve` processes, each service on its own
database, a `sluice kafka-dev` cluster between them. A publisher killed mid-batch sends
every event at least once; consumer processes that come and go share the topic's partitions
and apply every event exactly once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.auth import AUTH_HEADERS
from tests.support.kafka import DevBroker, topic_name
from tests.support.system_processes import (
    Hospital,
    consumer,
    deteriorate,
    each_applied_once,
    ward_head,
)
from tests.support.waiting import eventually

pytestmark = pytest.mark.timeout(300)

# A member that vanished (kill -9) leaves the group after this, not Kafka's default 45 s.
QUICK_GROUPS = '{"session.timeout.ms": "6000", "heartbeat.interval.ms": "500"}'


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[DevBroker]:
    started = DevBroker(tmp_path / "kafka")
    yield started
    started.close()


def hospital_over(
    tmp_path: Path, ward_db: str, outreach_db: str, broker: DevBroker, topic: str, **ward: str
) -> Hospital:
    servers = {
        "SLUICE_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap,
        "SLUICE_KAFKA_CONFIG": QUICK_GROUPS,
    }
    return Hospital(
        tmp_path,
        ward_db,
        outreach_db,
        page_size=50,
        ward_env={**servers, "SLUICE_KAFKA_PUBLISH": f"alerts={topic}", **ward},
        outreach_env={**servers, "SLUICE_KAFKA_SUBSCRIBE": f"ward/alerts={topic}"},
    )


async def partitions(http: httpx.AsyncClient, base: str, name: str) -> list[dict[str, Any]]:
    statuses = (await http.get(f"{base}/consumers")).json()
    return [s for s in statuses if s["name"].startswith(f"{name}@")]


async def all_applied(http: httpx.AsyncClient, base: str, events: int) -> None:
    for name in ("ward-alerts", "alert-callouts"):

        async def there(name: str = name) -> list[dict[str, Any]] | None:
            found = await partitions(http, base, name)
            done = found and all(s["lag_events"] == 0 for s in found)
            return found if done and sum(s["checkpoint"] for s in found) >= events else None

        found = await eventually(there, 90, f"{name}: {events} messages applied")
        assert {s["state"] for s in found} == {"running"}, found


async def test_a_publisher_killed_mid_batch_sends_every_event_and_consumers_apply_each_once(
    tmp_path: Path, database_url: str, outreach_database_url: str, broker: DevBroker
) -> None:
    topic = topic_name("ward.alerts")
    quiet = Hospital(tmp_path, database_url, outreach_database_url, page_size=50)
    try:  # a backlog written before the ward published anything
        quiet.ward()
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=10) as http:
            http.base_url = quiet.ward_url
            await deteriorate(http, range(150))
    finally:
        quiet.close()
    head = ward_head(database_url)

    hospital = hospital_over(
        tmp_path, database_url, outreach_database_url, broker, topic, SLUICE_KAFKA_PUBLISH_BATCH="7"
    )
    try:
        first = hospital.ward()
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=10) as http:

            async def midway() -> dict[str, Any] | None:
                status = await consumer(http, first.url, "alerts-to-kafka")
                return status if 0 < status["checkpoint"] < head else None

            await eventually(midway, 60, "the publisher midway")
            first.kill()  # kill -9: a batch produced, acknowledged or not, checkpoint not moved

            second = hospital.ward()

            async def published() -> dict[str, Any] | None:
                status = await consumer(http, second.url, "alerts-to-kafka")
                return status if status["checkpoint"] == head else None

            try:
                await eventually(published, 90, "the whole backlog published")
            except AssertionError as timed_out:  # say where it stood, and what it logged
                status = await consumer(http, second.url, "alerts-to-kafka")
                raise AssertionError(f"{timed_out}: {status}\n{second.log()}") from None
            outreach = hospital.outreach()
            # Every message the topic holds, a batch sent twice included, read past.
            await all_applied(http, outreach.url, broker.messages_in(topic))
            page = await http.get(f"{second.url}/streams/alerts", params={"limit": 1000})
        stream_ids = {event["id"] for event in page.json()["events"]}
        sent = broker.read_all(topic, len(stream_ids))
        ids = [next(v.decode() for k, v in m.headers() if k == "ce_id") for m in sent]
        assert set(ids) == stream_ids  # at least once each (a resent batch: twice)
        each_applied_once(outreach_database_url, 150)  # and applied once each
    finally:
        hospital.close()


async def test_consumer_processes_share_the_partitions_through_rebalances_and_a_kill(
    tmp_path: Path, database_url: str, outreach_database_url: str, broker: DevBroker
) -> None:
    topic = topic_name("ward.alerts")
    hospital = hospital_over(tmp_path, database_url, outreach_database_url, broker, topic)
    try:
        ward = hospital.ward()
        first = hospital.outreach()
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=10) as http:
            http.base_url = ward.url
            await deteriorate(http, range(30))
            second = hospital.outreach()  # joins the group: the partitions are shared out

            async def shared() -> set[str] | None:
                found = await partitions(http, second.url, "ward-alerts")
                leaders = {s["leader"].rsplit(":", 1)[0] for s in found if s["leader"]}
                return leaders if len(leaders) == 2 else None

            await eventually(shared, 60, "both processes holding partitions")
            await deteriorate(http, range(30, 60))
            first.kill()  # its partitions go to the other after its session times out
            await deteriorate(http, range(60, 80))
            await all_applied(http, second.url, ward_head(database_url))
        each_applied_once(outreach_database_url, 80)
    finally:
        hospital.close()
