"""The consumer runner: views and actions follow the log, fail loudly, and can be operated."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from app.sdk.service import Service
from app.settings import Settings
from tests.support import ledger
from tests.support.auth import ADMIN_KEY
from tests.support.consumers import caught_up, consumer_workers, status, wait_for_status
from tests.support.waiting import eventually


@pytest.fixture
def service() -> Service:
    return ledger.service


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        admin_key=ADMIN_KEY,
        data_dir=tmp_path / "data",
        consumer_backoff_initial_seconds=0.05,
        consumer_backoff_max_seconds=0.2,
        relay_poll_seconds=0.2,
    )


async def command(http: httpx.AsyncClient, path: str, body: dict | None = None) -> dict:
    response = await http.post(f"/entities/{path}", json=body or {})
    assert response.status_code == 200, response.text
    return dict(response.json())


async def open_account(http: httpx.AsyncClient, account_id: str) -> None:
    await command(http, f"account/{account_id}/open", {"owner": f"owner of {account_id}"})


async def deposit(http: httpx.AsyncClient, account_id: str, amount: int) -> int:
    """Deposit; returns the event's seq once sequenced."""
    reply = await command(http, f"account/{account_id}/deposit", {"amount": amount})
    event_id = reply["events"][0]["event_id"]
    for _ in range(200):
        events = (await http.get(f"/entities/account/{account_id}/events")).json()["events"]
        seq = next(e["seq"] for e in events if e["id"] == event_id)
        if seq is not None:
            return int(seq)
        await asyncio.sleep(0.02)
    raise AssertionError("the deposit was never sequenced")


async def balance(http: httpx.AsyncClient, account_id: str) -> int:
    response = await http.get(f"/views/balances/{account_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["balance"])


async def _balance_is(http: httpx.AsyncClient, account_id: str, amount: int) -> bool:
    response = await http.get(f"/views/balances/{account_id}")
    return response.status_code == 200 and response.json()["balance"] == amount


async def test_views_and_actions_follow_the_log(client: httpx.AsyncClient) -> None:
    await open_account(client, "a1")
    await deposit(client, "a1", 10)
    await caught_up(client, "welcome")
    await caught_up(client, "balances")
    assert await balance(client, "a1") == ledger.BONUS + 10
    counts = (await client.get("/views/deposits/a1")).json()
    assert counts["deposits"] == 2  # the welcome bonus and ours


async def test_a_poison_event_stops_only_its_view_until_skipped(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await open_account(client, "a1")
    await caught_up(client, "welcome")  # the bonus lands before the poison
    await deposit(client, "a1", 10)
    poison = await deposit(client, "a1", ledger.POISON)
    await deposit(client, "a1", 7)

    failing = await wait_for_status(client, "balances", lambda s: s["attempts"] >= 3)
    assert failing["state"] == "failing"
    assert failing["failing_seq"] == poison
    assert failing["checkpoint"] == poison - 1, "the events before the poison were applied"
    assert "unlucky amount 13" in failing["error"]
    assert await balance(client, "a1") == ledger.BONUS + 10

    # The other consumers were never blocked.
    await caught_up(client, "deposits")
    await caught_up(client, "welcome")
    assert (await client.get("/views/deposits/a1")).json()["deposits"] == 4

    wrong = await client.post(f"/consumers/balances/skip?seq={poison + 1}")
    assert wrong.status_code == 409
    assert wrong.headers["content-type"] == "application/problem+json"
    skipped = await client.post(f"/consumers/balances/skip?seq={poison}")
    assert skipped.status_code == 200, skipped.text
    assert skipped.json()["parked"] == 1

    await caught_up(client, "balances")
    assert await balance(client, "a1") == ledger.BONUS + 10 + 7
    parked = db.execute("SELECT seq, error FROM parked_events WHERE consumer = 'balances'")
    assert [(seq, "unlucky" in error) for seq, error in parked.fetchall()] == [(poison, True)]
    again = await client.post("/consumers/balances/skip")
    assert again.status_code == 409, "nothing to skip once it runs again"


async def test_a_row_the_database_refuses_is_pinned_on_its_own_event(
    client: httpx.AsyncClient,
) -> None:
    """A write error has no handler to blame: the batch is retried one event at a time
    until the failing event is found, and everything before it is applied."""
    await open_account(client, "a1")
    await caught_up(client, "welcome")
    await caught_up(client, "balances")
    await client.post("/consumers/balances/pause")
    await deposit(client, "a1", 1)
    bad = await deposit(client, "a1", ledger.UNSTORABLE)
    await deposit(client, "a1", 2)
    await client.post("/consumers/balances/resume")  # all three now land in one batch

    failing = await wait_for_status(client, "balances", lambda s: s["state"] == "failing")
    assert failing["failing_seq"] == bad
    assert failing["checkpoint"] == bad - 1
    assert await balance(client, "a1") == ledger.BONUS + 1
    await client.post("/consumers/balances/skip")
    await caught_up(client, "balances")
    assert await balance(client, "a1") == ledger.BONUS + 1 + 2


async def test_a_paused_consumer_keeps_its_checkpoint_until_resumed(
    client: httpx.AsyncClient,
) -> None:
    await open_account(client, "a1")
    # the bonus is in the view (a caught-up status alone may predate the events' sequencing)
    await eventually(lambda: _balance_is(client, "a1", ledger.BONUS), 15, "the bonus applied")
    paused = await client.post("/consumers/balances/pause")
    assert paused.json()["state"] == "paused"
    (worker,) = [w for w in consumer_workers(client._transport.app) if w.name == "balances"]  # type: ignore[attr-defined]
    steps = worker.steps
    await deposit(client, "a1", 10)
    await caught_up(client, "deposits")
    await eventually(lambda: worker.steps >= steps + 3, 10, "balances to look, paused, thrice")
    held = await status(client, "balances")
    assert held["state"] == "paused"
    assert held["lag_events"] >= 1
    assert await balance(client, "a1") == ledger.BONUS

    resumed = await client.post("/consumers/balances/resume")
    assert resumed.json()["state"] == "running"
    await caught_up(client, "balances")
    assert await balance(client, "a1") == ledger.BONUS + 10


async def test_unknown_consumers_are_404(client: httpx.AsyncClient) -> None:
    for response in (
        await client.get("/consumers/nope"),
        await client.post("/consumers/nope/skip"),
        await client.post("/consumers/nope/pause"),
    ):
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"


async def test_a_rejected_command_is_recorded_and_the_action_carries_on(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await open_account(client, "a1")
    await deposit(client, "a1", 10)
    await command(client, "account/a1/withdraw", {"amount": 3})
    await command(client, "account/a1/withdraw", {"amount": 4})
    fees = await caught_up(client, "fees")
    assert fees["error"] is None
    rejections = db.execute(
        "SELECT entity_id, command, reason FROM action_rejections WHERE action = 'fees'"
    ).fetchall()
    assert rejections == [("fees-a1", "withdraw", "no such account")] * 2


async def test_a_redelivered_event_sends_no_second_command(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await open_account(client, "a1")
    await open_account(client, "a2")
    await caught_up(client, "welcome")
    await caught_up(client, "balances")
    before = db.execute("SELECT count(*) FROM events").fetchone()

    db.execute("UPDATE checkpoints SET position = 0 WHERE name = 'welcome'")
    db.execute("SELECT pg_notify('sluice_consumers', 'welcome')")
    await wait_for_status(client, "welcome", lambda s: s["checkpoint"] == 0 or s["lag_events"] == 0)
    await caught_up(client, "welcome")

    assert db.execute("SELECT count(*) FROM events").fetchone() == before
    assert await balance(client, "a1") == ledger.BONUS, "one bonus, not two"


async def test_one_process_leads_each_consumer(
    client: httpx.AsyncClient, settings: Settings, database_url: str
) -> None:
    from app.main import create_app

    second = create_app(settings, service=ledger.service, database_url=database_url)
    async with second.router.lifespan_context(second):
        await open_account(client, "a1")
        await caught_up(client, "balances")
        apps = (client._transport.app, second)  # type: ignore[attr-defined]

        def led() -> list[str]:
            return sorted(name for app in apps for name in app.state.runtime.leadership.led())

        everything = ["balances", "deposits", "fees", "webhook-dispatcher", "welcome"]
        await eventually(lambda: led() == everything, 10, "every consumer led")
        rounds = [app.state.runtime.leadership.steps for app in apps]
        await eventually(  # another round of trying for what it does not lead: refused
            lambda: all(
                app.state.runtime.leadership.steps > n for app, n in zip(apps, rounds, strict=True)
            ),
            10,
            "another leadership round",
        )
        assert led() == everything
        assert await balance(client, "a1") == ledger.BONUS


async def test_under_a_stream_of_events_batches_are_paced_but_a_lone_event_is_not(
    settings: Settings, database_url: str
) -> None:
    from app.main import create_app

    paced = settings.but(consumer_min_interval_seconds=2.0)
    app = create_app(paced, service=ledger.service, database_url=database_url)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://sluice.test"
        ) as http,
    ):
        http.headers["Authorization"] = f"Bearer {ADMIN_KEY}"
        (worker,) = [w for w in consumer_workers(app) if w.name == "deposits"]
        await open_account(http, "a1")
        await caught_up(http, "welcome")  # its bonus deposit is in the log
        await caught_up(http, "deposits")
        async with asyncio.timeout(10):  # quiet (no batch at all) for longer than the interval
            while (quiet := time.monotonic() - worker.caught_up_at) < 2.2:  # noqa: ASYNC110
                await asyncio.sleep(2.2 - quiet)

        held_back = worker.held_back
        await deposit(http, "a1", 1)
        await caught_up(http, "deposits")
        # Polls every 0.2 s while idle: pacing from those instead of from the last batch
        # would hold this event back.
        assert worker.held_back == held_back, "a lone event waited for the pace"

        batches_before = worker.batches
        for _ in range(10):  # a stream: each deposit sequenced before the next is sent
            await deposit(http, "a1", 1)
        await caught_up(http, "deposits")
        assert worker.batches - batches_before <= 3, "one batch per event: no pacing"
        assert worker.held_back > held_back, "the stream's events waited for the pace"
        counts = (await http.get("/views/deposits/a1")).json()
    assert counts["deposits"] == 1 + 1 + 10  # the bonus, the lone one, the stream


async def test_the_webhook_dispatcher_reads_no_rows_and_moves_in_one_round_trip(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Its statement reads the batch's events itself: the runner hands it no rows, and its
    batch (lock, queue, advance) is one query."""
    (dispatcher,) = [w for w in consumer_workers(app) if w.name == "webhook-dispatcher"]
    assert dispatcher.consumer.reads_log is False
    assert await dispatcher._read_range(0, 10) == []
    await open_account(client, "a1")
    await deposit(client, "a1", 3)
    assert (await caught_up(client, "webhook-dispatcher"))["checkpoint"] >= 2
