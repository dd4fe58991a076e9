"""Timers: scheduled with the events that asked, fired at least once, acting exactly once."""

from __future__ import annotations

import asyncio
import functools
import time
from pathlib import Path

import httpx
import psycopg
import pytest

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.journal.timed import fire_timer
from app.main import create_app
from app.sdk.service import Service
from app.settings import Settings
from app.timers.store import DueTimer, TimerStore
from app.timers.worker import TimerWorker
from tests.support import ledger
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.runners import runner_on
from tests.support.waiting import eventually


@pytest.fixture
def service() -> Service:
    return ledger.service


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(admin_key=ADMIN_KEY, data_dir=tmp_path / "data", relay_poll_seconds=0.2)


async def post(http: httpx.AsyncClient, command: str, body: dict | None = None) -> None:
    response = await http.post(f"/entities/piggy/p1/{command}", json=body or {})
    assert response.status_code == 200, response.text


async def saved_events(http: httpx.AsyncClient) -> list[int]:
    events = (await http.get("/entities/piggy/p1/events")).json()["events"]
    return [e["data"]["amount"] for e in events if e["type"] == "piggy.Saved"]


async def wait_for_saved(http: httpx.AsyncClient, count: int, seconds: float = 10) -> list[int]:
    deadline = time.monotonic() + seconds
    while ((found := await saved_events(http)) and len(found) < count) or not found:
        if time.monotonic() > deadline:
            raise AssertionError(f"expected {count} Saved events, found {found}")
        await asyncio.sleep(0.05)
    return found


def pending_timers(db: psycopg.Connection) -> list[tuple]:
    return db.execute("SELECT owner, key, command, body FROM timers").fetchall()


def timer_worker(client: httpx.AsyncClient) -> TimerWorker:
    runtime = client._transport.app.state.runtime  # type: ignore[attr-defined]
    (worker,) = [w for w in runtime.workers if isinstance(w, TimerWorker)]
    return worker


def is_due(db: psycopg.Connection) -> bool:
    return bool(db.execute("SELECT bool_and(due_at <= now()) FROM timers").fetchone()[0])


async def test_a_timer_fires_its_command_when_due(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    scheduled = time.monotonic()
    await post(client, "remind", {"amount": 3, "seconds": 0.5})
    assert pending_timers(db) == [("piggy/p1", "save", "save", {"amount": 3})]
    assert await wait_for_saved(client, 1) == [3]
    assert time.monotonic() - scheduled >= 0.5, "not before it was due"
    # the command committed first; the timer row goes just after (a crash between: a replay)
    await eventually(lambda: pending_timers(db) == [], 10, "the timer to be done")
    events = (await client.get("/entities/piggy/p1/events")).json()["events"]
    assert events[-1]["causationid"] == events[0]["id"], "the fired command names its cause"


async def test_a_cancelled_timer_never_fires(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await post(client, "remind", {"amount": 3, "seconds": 0.5})
    due = time.monotonic() + 0.5
    await post(client, "forget-reminder")
    assert pending_timers(db) == [], "cancelled in the same transaction as its event"
    worker = timer_worker(client)
    await eventually(lambda: time.monotonic() > due, 5, "its time to pass")
    steps = worker.steps
    await eventually(lambda: worker.steps > steps + 1, 5, "the timer worker to look, twice")
    assert await saved_events(client) == []


async def test_scheduling_a_key_again_moves_the_timer(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await post(client, "remind", {"amount": 3, "seconds": 60})
    await post(client, "remind", {"amount": 4, "seconds": 0.3})
    assert [row[3] for row in pending_timers(db)] == [{"amount": 4}]
    assert await wait_for_saved(client, 1) == [4]
    await eventually(lambda: pending_timers(db) == [], 10, "nothing left to fire")
    assert await saved_events(client) == [4]


async def test_a_timer_survives_a_restart(
    settings: Settings, database_url: str, db: psycopg.Connection
) -> None:
    first = create_app(settings, service=ledger.service, database_url=database_url)
    async with first.router.lifespan_context(first):
        transport = httpx.ASGITransport(app=first)
        async with httpx.AsyncClient(
            headers=AUTH_HEADERS, transport=transport, base_url="http://one"
        ) as http:
            await post(http, "remind", {"amount": 9, "seconds": 3.0})
    # (3 s: room for a slow shutdown on a loaded machine before the timer falls due)
    assert len(pending_timers(db)) == 1, "it fired while the first process ran"
    await eventually(lambda: is_due(db), 10, "the timer to fall due while no process runs")
    assert len(pending_timers(db)) == 1
    second = create_app(settings, service=ledger.service, database_url=database_url)
    async with second.router.lifespan_context(second):
        transport = httpx.ASGITransport(app=second)
        async with httpx.AsyncClient(
            headers=AUTH_HEADERS, transport=transport, base_url="http://two"
        ) as http:
            assert await wait_for_saved(http, 1) == [9]


async def test_a_timer_fired_twice_acts_once(database_url: str, db: psycopg.Connection) -> None:
    """The worker can die between sending the command and deleting the timer: the timer then
    fires again, and its idempotency key makes the second firing a replay."""
    async with runner_on(database_url, ledger.service) as runner:
        from app.journal.commands import CommandRequest

        body = ledger.Remind(amount=5, seconds=0.01)
        await runner.run(CommandRequest("piggy", "p1", "remind", body))
        await asyncio.sleep(0.05)
        store = TimerStore(runner.journal.pool)
        fire = functools.partial(fire_timer, runner)
        worker = TimerWorker(
            store, fire, Listener(database_url, WorkerSettings()), WorkerSettings()
        )
        (due,) = await store.claim(10, lease_seconds=0.01)
        await worker.fire(due)
        await asyncio.sleep(0.05)
        db.execute(
            "INSERT INTO timers (owner, key, timer_id, entity_type, entity_id, command, body,"
            " due_at) VALUES (%s, %s, %s, 'piggy', 'p1', 'save', '{\"amount\": 5}', now())",
            [due.owner, due.key, due.timer_id],
        )  # as if the delete had never happened
        (again,) = await store.claim(10, lease_seconds=0.01)
        await worker.fire(again)
    saved = db.execute("SELECT count(*) FROM events WHERE type = 'Saved'").fetchone()
    assert saved == (1,)
    assert pending_timers(db) == []


async def test_a_batch_cut_by_an_outage_fires_when_the_database_returns(
    database_url: str, db: psycopg.Connection
) -> None:
    """The database goes away while a claimed timer's command runs: the lease (a minute) must
    not hold the timer back once the database is there again."""
    async with runner_on(database_url, ledger.service) as runner:
        from app.journal.commands import CommandRequest

        body = ledger.Remind(amount=7, seconds=0.01)
        await runner.run(CommandRequest("piggy", "p1", "remind", body))
        await eventually(lambda: is_due(db), 5, "the timer due")
        attempts: list[float] = []

        async def fire_after_an_outage(timer: DueTimer) -> None:
            attempts.append(time.monotonic())
            if len(attempts) == 1:
                raise psycopg.OperationalError("the server closed the connection")
            await fire_timer(runner, timer)

        listener = Listener(database_url, WorkerSettings())
        settings = WorkerSettings(poll_seconds=0.1)
        worker = TimerWorker(
            TimerStore(runner.journal.pool), fire_after_an_outage, listener, settings
        )
        listener.start()
        worker.start()
        try:
            await eventually(lambda: pending_timers(db) == [], 10, "the timer fired after all")
        finally:
            await worker.stop()
            await listener.stop()
    assert len(attempts) == 2 and worker.outages == 1
    assert attempts[1] - attempts[0] < 5  # the outage's backoff, not the lease's minute
    saved = db.execute("SELECT count(*) FROM events WHERE type = 'Saved'").fetchone()
    assert saved == (1,)
