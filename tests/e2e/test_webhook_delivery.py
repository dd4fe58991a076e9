"""Webhook delivery against real HTTP receivers: retries, dead letters, replays, slow and flaky
receivers, and a kill -9 of the delivering process."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import random
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.relay.log import EventLog
from app.services.ward import service as ward_service
from app.settings import Settings
from app.webhooks.deliveries import Deliveries
from app.webhooks.pump import DeliveryPump
from app.webhooks.settings import WebhookSettings
from app.webhooks.subscriptions import Subscriptions
from tests.support.auth import AUTH_HEADERS
from tests.support.receiver import Received, fail_first
from tests.support.relay import bulk_append, sequenced
from tests.support.servers import SluiceProcess
from tests.support.webhooks import (
    Reply,
    WebhookReceiver,
    admit,
    all_sent,
    assert_in_order_per_entity,
    deliveries,
    delivery_pump,
    entities_in_flight_together,
    eventually,
    log_event_ids,
    log_events,
    record_vitals,
    seq_of,
    subscribe,
    verify,
    webhook,
    webhook_settings,
)


@pytest.fixture
def overrides() -> dict[str, Any]:
    """Settings a test changes: parametrize it (``@pytest.mark.parametrize("overrides", …)``)."""
    return {}


@pytest.fixture
def settings(tmp_path: Path, overrides: dict[str, Any]) -> Settings:
    return webhook_settings(tmp_path, **overrides)


async def finished_delivery(
    http: httpx.AsyncClient, webhook_id: str, seconds: float = 15
) -> dict[str, Any]:
    """The subscription's only delivery, once it has stopped being pending."""

    async def finished() -> dict[str, Any] | None:
        found = await deliveries(http, webhook_id)
        return found[0] if len(found) == 1 and found[0]["status"] != "pending" else None

    return await eventually(finished, seconds, "the delivery to finish")


# -- retries ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [{"webhook_timeout_seconds": 1.0, "webhook_retry_schedule": "0.2,0.5,1"}],
    ids=["timeout-1s"],
)
async def test_a_receiver_failing_three_ways_gets_the_event_once_on_the_fourth_attempt(
    client: httpx.AsyncClient,
) -> None:
    plan = fail_first(3, [500, "hang", "reset"])
    async with WebhookReceiver(plan=plan) as receiver:
        created = await subscribe(client, receiver.url, event_types=["patient.PatientAdmitted"])
        event_id = await admit(client, "p1")
        await record_vitals(client, "p1")  # not subscribed to: never sent
        delivery = await finished_delivery(client, created["id"])
        await all_sent(client)  # nothing more is on its way

        assert delivery["status"] == "succeeded", delivery
        assert (delivery["attempts"], delivery["event_id"]) == (4, event_id)
        log = delivery["attempt_log"]
        assert [a["status_code"] for a in log] == [500, None, None, 200]
        assert log[0]["error"] == "HTTP 500"
        assert "timed out" in log[1]["error"]
        assert log[1]["latency_ms"] >= 900
        assert log[2]["error"] and "timed out" not in log[2]["error"], log[2]
        assert log[3]["error"] is None
        assert [a["attempted_at"] for a in log] == sorted(a["attempted_at"] for a in log)

        assert [r.answered for r in receiver.requests] == [500, "hang", "reset", 200]
        assert len(receiver.delivered()) == 1
        assert {r.headers["webhook-id"] for r in receiver.requests} == {event_id}
        (cloud_event,) = [e for e in await log_events(client) if e["id"] == event_id]
        for request in receiver.requests:
            assert verify(created["secret"], request) == cloud_event
        gaps = [b.at - a.at for a, b in itertools.pairwise(receiver.requests)]
        assert gaps[0] >= 0.2 * 0.9
        assert gaps[1] >= 1.0 + 0.5 * 0.9  # the timeout, then the schedule's second delay
        assert gaps[2] >= 1.0 * 0.9
        health = await webhook(client, created["id"])
        assert health["failing_since"] is None and health["last_success_at"] is not None
        assert (health["pending"], health["failed"]) == (0, 0)


async def test_410_gone_disables_the_subscription(client: httpx.AsyncClient) -> None:
    async with WebhookReceiver(plan=lambda request: 410) as receiver:
        created = await subscribe(client, receiver.url)
        await admit(client, "p1")
        delivery = await finished_delivery(client, created["id"])
        assert (delivery["status"], delivery["attempts"]) == ("failed", 1)
        assert [a["status_code"] for a in delivery["attempt_log"]] == [410]
        hook = await webhook(client, created["id"])
        assert hook["enabled"] is False
        assert "410" in hook["disabled_reason"]
        assert hook["failed"] == 1

        await admit(client, "p2")  # a disabled subscription gets nothing
        await all_sent(client)  # the dispatcher has read p2's event and made no delivery
        assert len(receiver.requests) == 1
        assert len(await deliveries(client, created["id"])) == 1

        response = await client.patch(f"/webhooks/{created['id']}", json={"enabled": True})
        assert response.status_code == 200, response.text
        assert (response.json()["enabled"], response.json()["disabled_reason"]) == (True, None)


async def test_410_gone_disables_the_subscription_even_beside_successes(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    """Results that finish together are recorded together; a 410 among them must still
    disable its subscription, whatever its other deliveries answered."""

    def plan(request: Received) -> Any:
        return Reply(410, after=0.3) if request.json()["subject"] == "gone" else 200

    async with WebhookReceiver(plan=plan) as receiver:
        created = await subscribe(client, receiver.url)
        # Hold the subscription's row: the first results' statements wait on it, and the
        # results behind them (the 410 among them) queue up to be written as one batch.
        with db.transaction():
            db.execute("SELECT 1 FROM webhooks WHERE id = %s FOR NO KEY UPDATE", [created["id"]])
            for patient in ("p1", "p2", "p3", "p4", "gone", "p5"):
                await admit(client, patient)
            await eventually(lambda: len(receiver.spans) == 6, 10, "six answers")
            pump = delivery_pump(client)
            await eventually(lambda: len(pump._recording) == 6, 10, "six results waiting")
        await eventually(
            lambda: _all_finished(client, created["id"], 6), 10, "the deliveries to be recorded"
        )
        gone = [d for d in await deliveries(client, created["id"]) if d["entity_id"] == "gone"]
        assert [(d["status"], d["last_status_code"]) for d in gone] == [("failed", 410)]
        hook = await webhook(client, created["id"])
        assert not hook["enabled"] and "410" in (hook["disabled_reason"] or ""), (
            "a 410 recorded in the same batch as a success of the same subscription did not "
            f"disable it: {hook}"
        )


async def _all_finished(http: httpx.AsyncClient, webhook_id: str, count: int) -> bool:
    found = await deliveries(http, webhook_id)
    return len(found) == count and all(d["status"] != "pending" for d in found)


@pytest.mark.parametrize("overrides", [{"webhook_retry_schedule": "0.2,0.2"}], ids=["3-attempts"])
async def test_a_dead_letter_is_sent_again_by_retry(client: httpx.AsyncClient) -> None:
    answer = {"status": 500}
    async with WebhookReceiver(plan=lambda request: answer["status"]) as receiver:
        created = await subscribe(client, receiver.url)
        event_id = await admit(client, "p1")
        delivery = await finished_delivery(client, created["id"])
        assert (delivery["status"], delivery["attempts"]) == ("failed", 3)
        assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 500, 500]
        hook = await webhook(client, created["id"])
        assert (hook["failed"], hook["pending"]) == (1, 0)
        assert hook["failing_since"] is not None
        assert await deliveries(client, created["id"], status="failed") == [delivery]

        answer["status"] = 200
        response = await client.post(f"/webhooks/{created['id']}/deliveries/{delivery['id']}/retry")
        assert response.status_code == 202, response.text
        assert response.json() == {"queued": 1, "delivery_id": delivery["id"]}
        again = await finished_delivery(client, created["id"])
        assert again["status"] == "succeeded", again
        assert [a["status_code"] for a in again["attempt_log"]] == [500, 500, 500, 200]
        (got,) = receiver.delivered()
        assert got.headers["webhook-id"] == event_id
        assert verify(created["secret"], got)["id"] == event_id
        assert (await webhook(client, created["id"]))["failed"] == 0

        # a pending delivery cannot be retried: a ping to a disabled subscription stays pending
        idle = await subscribe(client, receiver.url, enabled=False)
        queued = (await client.post(f"/webhooks/{idle['id']}/test")).json()
        response = await client.post(
            f"/webhooks/{idle['id']}/deliveries/{queued['delivery_id']}/retry"
        )
        assert response.status_code == 409, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        # nor can another subscription's delivery be retried through this one
        response = await client.post(f"/webhooks/{idle['id']}/deliveries/{delivery['id']}/retry")
        assert response.status_code in (404, 409), response.text


async def test_replay_sends_matching_events_again_with_the_same_webhook_ids(
    client: httpx.AsyncClient,
) -> None:
    async with WebhookReceiver() as receiver:
        every = await subscribe(client, f"{receiver.url}?s=every", event_types=["patient.*"])
        first = await admit(client, "p1")
        later = [await record_vitals(client, "p1"), await admit(client, "p2")]
        await eventually(lambda: len(receiver.delivered()) == 3, 10, "three deliveries")
        original = {r.headers["webhook-id"]: r.json() for r in receiver.delivered()}
        assert set(original) == {first, *later}

        after = await seq_of(client, first)
        response = await client.post(f"/webhooks/{every['id']}/replay", params={"after": after})
        assert response.status_code == 202, response.text
        assert response.json()["queued"] == 2
        await eventually(lambda: len(receiver.delivered()) == 5, 10, "the replayed events")
        replayed = receiver.delivered()[3:]
        assert sorted(r.headers["webhook-id"] for r in replayed) == sorted(later)
        for request in replayed:
            assert verify(every["secret"], request) == original[request.headers["webhook-id"]]

        # a subscription created afterwards gets older events only by replay, and its filter holds
        admissions = await subscribe(
            client, f"{receiver.url}?s=admissions", event_types=["patient.PatientAdmitted"]
        )
        response = await client.post(f"/webhooks/{admissions['id']}/replay?after=0")
        assert response.json()["queued"] == 2
        await eventually(
            lambda: len(receiver.delivered("/hook?s=admissions")) == 2, 10, "the replay"
        )
        got = receiver.delivered("/hook?s=admissions")
        assert sorted(r.headers["webhook-id"] for r in got) == sorted([first, later[1]])
        assert all(
            verify(admissions["secret"], r)["type"] == "patient.PatientAdmitted" for r in got
        )
        response = await client.post(f"/webhooks/{admissions['id']}/replay?after=-1")
        assert response.status_code == 422


@pytest.mark.parametrize("overrides", [{"webhook_retry_schedule": "0.2,0.2"}], ids=["0.2s"])
async def test_retry_after_delays_the_next_attempt_beyond_the_schedule(
    client: httpx.AsyncClient,
) -> None:
    in_three_seconds = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    plans = {
        "/hook?s=seconds": fail_first(1, [Reply(429, {"retry-after": "2"})]),
        "/hook?s=date": fail_first(1, [Reply(503, {"retry-after": in_three_seconds})]),
    }
    async with WebhookReceiver(plan=lambda request: plans[request.path](request)) as receiver:
        for name in ("seconds", "date"):
            await subscribe(client, f"{receiver.url}?s={name}")
        await admit(client, "p1")
        await eventually(lambda: len(receiver.delivered()) == 2, 10, "both deliveries")
        seconds, date = (receiver.at(f"/hook?s={name}") for name in ("seconds", "date"))
        assert [r.answered for r in seconds][1:] == [200]
        assert seconds[1].at - seconds[0].at >= 2.0, "Retry-After: 2 was not honoured"
        assert date[1].at - date[0].at >= 1.5, "Retry-After as an HTTP date was not honoured"


@pytest.mark.parametrize("overrides", [{"webhook_retry_schedule": "0.2"}], ids=["2-attempts"])
async def test_a_redirect_is_a_failure_and_is_not_followed(client: httpx.AsyncClient) -> None:
    def plan(request: Received) -> Any:
        if request.path == "/elsewhere":
            return 200
        return Reply(302, {"location": f"http://127.0.0.1:{receiver.port}/elsewhere"})

    async with WebhookReceiver(plan=plan) as receiver:
        created = await subscribe(client, receiver.url)
        await admit(client, "p1")
        delivery = await finished_delivery(client, created["id"])
        assert delivery["status"] == "failed"
        assert [a["status_code"] for a in delivery["attempt_log"]] == [302, 302]
        assert "redirect" in delivery["attempt_log"][0]["error"]
        assert receiver.at("/elsewhere") == [], "the redirect was followed"


# -- slow, saturated and flaky receivers --------------------------------------------------------
@pytest.mark.parametrize(
    "overrides",
    [{"webhook_timeout_seconds": 30.0, "webhook_subscription_concurrency": 10}],
    ids=["timeout-30s"],
)
async def test_a_hanging_receiver_does_not_stall_other_subscriptions(
    client: httpx.AsyncClient, database_url: str
) -> None:
    def plan(request: Received) -> Any:
        return "hang" if request.path == "/hook?s=slow" else 200

    async with WebhookReceiver(plan=plan) as receiver:
        slow = await subscribe(client, f"{receiver.url}?s=slow")
        fast = await subscribe(client, f"{receiver.url}?s=fast")
        await bulk_append(database_url, entities=5, per_entity=10)
        started = time.monotonic()
        await eventually(
            lambda: len(receiver.delivered("/hook?s=fast")) == 50, 5, "the fast subscription"
        )
        took = time.monotonic() - started
        assert took < 5, f"the fast subscription took {took:.1f}s"
        assert len(receiver.at("/hook?s=slow")) == 10, "the slow one holds its share, no more"
        assert receiver.delivered("/hook?s=slow") == []

        async def fast_done() -> bool:
            return (await webhook(client, fast["id"]))["pending"] == 0

        await eventually(fast_done, 5, "the fast deliveries to be recorded")
        assert (await webhook(client, slow["id"]))["pending"] == 50


@pytest.mark.parametrize(
    ("overrides", "ordered"),
    [
        (
            {
                "webhook_timeout_seconds": 30.0,
                "webhook_subscription_concurrency": 2,
                "relay_poll_seconds": 0.2,
            },
            False,
        ),
        ({"webhook_retry_schedule": "30", "relay_poll_seconds": 0.2}, True),
    ],
    ids=["saturated-subscription", "ordered-entity-waiting-for-a-retry"],
)
async def test_the_pump_idles_while_every_due_delivery_is_held_back(
    client: httpx.AsyncClient, app: Any, ordered: bool
) -> None:
    """Deliveries that are due but may not be claimed (their subscription has all its slots in
    flight, or an earlier event of their entity awaits a retry) must not make the pump poll
    the database in a tight loop."""
    behaviour = 500 if ordered else "hang"
    async with WebhookReceiver(plan=lambda request: behaviour) as receiver:
        await subscribe(client, receiver.url, ordered=ordered)
        await admit(client, "p1")
        for pulse in range(60, 70):
            await record_vitals(client, "p1", pulse=pulse)
        await eventually(lambda: len(receiver.requests) >= (1 if ordered else 2), 10, "a request")
        pump = delivery_pump(client)
        steps = pump.steps
        await eventually(lambda: pump.steps >= steps + 2, 10, "the pump to settle, held back")
        pump_deliveries = app.state.runtime.deliveries
        calls = Counter[str]()
        for name in ("claim", "seconds_to_next"):
            original = getattr(pump_deliveries, name)

            async def counted(
                *args: Any, _name: str = name, _original: Any = original, **kwargs: Any
            ) -> Any:
                calls[_name] += 1
                return await _original(*args, **kwargs)

            setattr(pump_deliveries, name, counted)
        await asyncio.sleep(1.0)
        assert len(receiver.requests) == (1 if ordered else 2)
        # polling every 0.2 s, plus wake-ups: a handful per second, not hundreds
        assert calls["claim"] <= 15, (
            f"the pump claimed {calls['claim']} times and asked seconds_to_next "
            f"{calls['seconds_to_next']} times in 1 s with nothing it could send: it spins"
        )


FLAKY_RATE = 0.3
READINGS = 20  # events per patient
DEADLINE = 60.0  # seconds for all the deliveries
FIVE_SUBSCRIPTIONS = [  # (ordered, event types)
    (True, ["patient.*"]),
    (False, ["*"]),
    (True, ["patient.VitalsRecorded"]),
    (False, []),
    (True, ["*"]),
]


@pytest.mark.timeout(150)
@pytest.mark.parametrize(
    "overrides",
    [
        {
            "webhook_retry_schedule": ",".join(["0.05"] * 3 + ["0.1"] * 12),
            "webhook_timeout_seconds": 5.0,
        }
    ],
    ids=["short-schedule"],
)
@pytest.mark.parametrize("patients", [10, 50], ids=["200-events", "1000-events"])
async def test_every_event_reaches_5_subscriptions_through_a_flaky_receiver(
    client: httpx.AsyncClient, database_url: str, patients: int
) -> None:
    """Ordered or not, every subscription gets every event despite 30 % failed attempts;
    ordered ones see each entity's events in seq order, several entities at a time."""
    chance = random.Random(11)

    def plan(request: Received) -> Any:
        return 500 if chance.random() < FLAKY_RATE else ("slow", 0.01)

    async with WebhookReceiver(plan=plan) as receiver:
        hooks = [
            await subscribe(client, f"{receiver.url}?s={n}", event_types=types, ordered=ordered)
            for n, (ordered, types) in enumerate(FIVE_SUBSCRIPTIONS)
        ]
        started = time.monotonic()
        await bulk_append(database_url, entities=patients, per_entity=READINGS)
        await sequenced(database_url, patients * READINGS)
        event_ids = await asyncio.to_thread(log_event_ids, database_url)
        assert len(event_ids) == patients * READINGS

        def missing() -> dict[int, int]:
            return {
                n: len(event_ids - {r.headers["webhook-id"] for r in receiver.delivered(path)})
                for n in range(5)
                for path in [f"/hook?s={n}"]
            }

        with contextlib.suppress(AssertionError):
            await eventually(
                lambda: not any(missing().values()), DEADLINE, "every delivery", interval=0.5
            )
        took = time.monotonic() - started
        failures = sum(1 for r in receiver.requests if r.answered == 500)
        assert failures > 0.2 * len(receiver.requests), "the receiver was not flaky"
        for n, (ordered, _) in enumerate(FIVE_SUBSCRIPTIONS):
            if ordered:  # checked on whatever has arrived, even if not everything has
                assert_in_order_per_entity(receiver, f"/hook?s={n}")
                parallel = entities_in_flight_together(receiver, f"/hook?s={n}")
                assert parallel >= 2, f"subscription {n}: entities were delivered one at a time"
        assert not any(missing().values()), (
            f"after {took:.0f}s, deliveries still missing per subscription (of "
            f"{len(event_ids)} each): {missing()}; {len(receiver.requests)} attempts in all, "
            f"{len(receiver.requests) / took:.0f}/s (subscriptions 0, 2 and 4 are ordered)"
        )
        for n in range(5):
            hook = await webhook(client, hooks[n]["id"])
            assert (hook["pending"], hook["failed"]) == (0, 0), (n, hook)


# -- processes ----------------------------------------------------------------------------------
def serve(database_url: str, tmp_path: Path) -> SluiceProcess:
    env = {
        "DATABASE_URL": database_url,
        "SLUICE_WEBHOOK_ALLOW_PRIVATE": "true",  # the receiver is on 127.0.0.1
        "SLUICE_WEBHOOK_RETRY_SCHEDULE": "0.2,0.5,1,1,1",
        "SLUICE_WEBHOOK_TIMEOUT_SECONDS": "1",
        "SLUICE_WEBHOOK_SUBSCRIPTION_CONCURRENCY": "20",
        "SLUICE_LEADER_RETRY_SECONDS": "0.5",
        "SLUICE_RELAY_POLL_SECONDS": "0.2",
    }
    return SluiceProcess(env, tmp_path)


def delivery_states(database_url: str) -> Counter[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute("SELECT status, count(*) FROM webhook_deliveries GROUP BY 1")
        return Counter(dict(rows.fetchall()))


@pytest.mark.timeout(180)
async def test_kill_9_while_delivering_loses_no_event(database_url: str, tmp_path: Path) -> None:
    total = 300
    async with WebhookReceiver(plan=lambda request: ("slow", 0.3)) as receiver:
        first = serve(database_url, tmp_path)
        second: SluiceProcess | None = None
        try:
            await asyncio.to_thread(first.wait_ready)
            async with httpx.AsyncClient(
                headers=AUTH_HEADERS, base_url=first.url, timeout=10
            ) as http:
                created = await subscribe(
                    http, receiver.url, event_types=["patient.VitalsRecorded"]
                )
            await bulk_append(database_url, entities=30, per_entity=total // 30)
            await eventually(lambda: len(receiver.requests) >= 60, 30, "deliveries under way")
            await asyncio.to_thread(first.kill)  # SIGKILL, with requests in flight
            killed_with = len(receiver.requests)
            answered_before_kill = len(receiver.delivered())
            assert killed_with < total, "everything was delivered before the kill"
            assert answered_before_kill < killed_with, "no request was in flight at the kill"

            second = serve(database_url, tmp_path)
            await asyncio.to_thread(second.wait_ready)
            expected = await asyncio.to_thread(
                log_event_ids, database_url, "patient.VitalsRecorded"
            )
            assert len(expected) == total

            def received() -> set[str]:
                return {r.headers["webhook-id"] for r in receiver.requests}

            async def all_succeeded() -> bool:
                states = await asyncio.to_thread(delivery_states, database_url)
                return states == Counter({"succeeded": total}) and received() >= expected

            try:
                # leases of the killed process expire after the timeout + 30 s
                await eventually(all_succeeded, 90, "every delivery to succeed")
            except AssertionError as error:
                states = await asyncio.to_thread(delivery_states, database_url)
                raise AssertionError(
                    f"{error}: states {dict(states)}, {len(expected - received())} never received"
                ) from None
            assert received() == expected, "a webhook-id that is no event of the subscription"
            answered = {r.headers["webhook-id"] for r in receiver.delivered()}
            assert answered == expected, f"{len(expected - answered)} never answered 200"
            for request in receiver.requests[:: total // 10]:
                verify(created["secret"], request)
            print(
                f"killed after {killed_with} requests ({answered_before_kill} answered); "
                f"{len(receiver.requests) - total} duplicates in all"
            )
        finally:
            first.close()
            if second is not None:
                second.close()


# -- stopping -----------------------------------------------------------------------------------
async def test_the_pump_stops_when_cancelled_as_a_connection_reaches_it(
    database_url: str,
) -> None:
    """psycopg_pool waits for a connection with asyncio.wait_for, which on Python 3.11 returns
    the connection instead of raising when the task is cancelled just as one is handed to it.
    The pump must stop anyway: otherwise the app's shutdown waits for it forever."""
    pool = AsyncConnectionPool(
        database_url, min_size=1, max_size=1, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    listener = Listener(database_url, WorkerSettings())  # never started
    pump = DeliveryPump(
        Deliveries(pool),
        Subscriptions(pool),
        EventLog(pool, ward_service, "ward"),
        listener,
        WebhookSettings(),
        WorkerSettings(poll_seconds=0.1),
    )
    held = await pool.getconn()
    pump.start()
    stopping: asyncio.Task[None] | None = None
    try:
        await eventually(
            lambda: pool.get_stats().get("requests_waiting", 0) >= 1, 5, "the pump to wait"
        )
        await pool.putconn(held)  # handed straight to the waiting pump ...
        stopping = asyncio.create_task(pump.stop())  # ... as it is told to stop
        done, _ = await asyncio.wait({stopping}, timeout=5)
        assert done, (
            "DeliveryPump.stop() still waits 5 s later: the pump lost its cancellation and "
            "keeps polling (app/background/tasks.py cancel_and_wait cancels only once)"
        )
    finally:
        task = pump._task
        while task is not None and not task.done():  # clean up whatever the outcome
            task.cancel()
            await asyncio.wait({task}, timeout=0.5)
        if stopping is not None:
            await asyncio.wait({stopping}, timeout=5)
        await pool.close()
