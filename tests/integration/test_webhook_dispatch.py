"""The webhook dispatcher's statement: which events each subscription is queued.

A subscription receives the events after the log's head at its creation. The dispatcher reads
the subscriptions for each batch; a subscription that reads its head before a batch's events
were sequenced but commits after the dispatcher looked would get none of them, and nothing
would ever send them. The race tests hold one side at the moment that matters, by hand.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import httpx
import psycopg
import pytest
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.relay.checkpoints import Checkpoints
from app.settings import Settings
from app.webhooks.dispatcher import DISPATCHER
from app.webhooks.matching import sql_wants
from app.webhooks.signing import new_secret
from app.webhooks.subscriptions import CREATE, HOLD_THE_DISPATCHER, Subscriptions
from tests.support.consumers import caught_up
from tests.support.webhooks import (
    admit,
    eventually,
    log_events,
    record_vitals,
    seq_of,
    subscribe,
    webhook_settings,
)

URL = "http://127.0.0.1:9/hook"  # nothing listens: deliveries stay pending, and are counted


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return webhook_settings(tmp_path)


async def _waiting_for_a_lock(database_url: str, statement: str) -> bool:
    """Whether a session running ``statement`` waits for a row lock."""
    async with await psycopg.AsyncConnection.connect(database_url, autocommit=True) as conn:
        found = await conn.execute(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE wait_event_type = 'Lock' AND query LIKE %s",
            [f"%{statement}%"],
        )
        row = await found.fetchone()
    return bool(row and row[0])


def _queued_seqs(database_url: str, webhook_id: uuid.UUID | str) -> list[int]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT seq FROM webhook_deliveries WHERE webhook_id = %s ORDER BY seq", [webhook_id]
        ).fetchall()
    return [seq for (seq,) in rows]


@pytest.mark.parametrize(
    ("patterns", "event_type", "wanted"),
    [
        ([], "alert.AlertRaised", True),
        (["*"], "patient.PatientAdmitted", True),
        (["alert.*"], "alert.AlertRaised", True),
        (["alert.*"], "patient.PatientAdmitted", False),
        (["alert.*"], "alerts.AlertRaised", False),
        (["patient.VitalsRecorded"], "patient.VitalsRecorded", True),
        (["patient.VitalsRecorded"], "patient.VitalsRecordedAgain", False),
        (["patient.VitalsRecorded"], "patient.PatientAdmitted", False),
        (["patient.VitalsRecorded", "alert.*"], "alert.AlertCleared", True),
        (["a_b.*"], "aXb.Thing", False),  # '_' is no wildcard
    ],
)
def test_a_subscriptions_patterns_take_the_types_they_name(
    db: psycopg.Connection, patterns: list[str], event_type: str, wanted: bool
) -> None:
    query = f"SELECT {sql_wants('%(patterns)s::jsonb', '%(type)s::text')}"
    row = db.execute(query, {"patterns": json.dumps(patterns), "type": event_type}).fetchone()
    assert row == (wanted,)


@pytest.mark.timeout(60)
async def test_a_parked_event_is_queued_for_no_subscription(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """The dispatcher passes over the events parked for it (an operator's skip), as every
    consumer's reading of the log does."""
    await admit(client, "p1")
    created = await subscribe(client, URL)
    paused = await client.post(f"/consumers/{DISPATCHER}/pause")
    assert paused.status_code == 200, paused.text
    seqs = [await seq_of(client, await record_vitals(client, "p1")) for _ in range(3)]
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO parked_events (consumer, seq, event_id, error)"
            " SELECT %s, seq, event_id, 'parked by the test' FROM events WHERE seq = %s",
            [DISPATCHER, seqs[1]],
        )
    resumed = await client.post(f"/consumers/{DISPATCHER}/resume")
    assert resumed.status_code == 200, resumed.text
    await caught_up(client, DISPATCHER)
    queued = await asyncio.to_thread(_queued_seqs, database_url, created["id"])
    assert seqs[0] in queued and seqs[2] in queued and seqs[1] not in queued


@pytest.mark.timeout(60)
async def test_a_subscription_committing_while_a_batch_waits_gets_the_batchs_events(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """The subscription reads its head, then events are sequenced and the dispatcher takes
    them up while it is still uncommitted: the dispatcher must wait for it, then see it."""
    await admit(client, "p1")
    await caught_up(client, DISPATCHER)
    params = {
        "id": uuid.uuid4(),
        "url": URL,
        "event_types": json.dumps([]),
        "description": "",
        "enabled": True,
        "ordered": False,
        "secret": new_secret(),
        "owner": None,
    }
    creating = await psycopg.AsyncConnection.connect(database_url)
    async with creating, creating.transaction():  # Subscriptions.create, held before commit
        await creating.execute(HOLD_THE_DISPATCHER, {"name": DISPATCHER})
        cursor = creating.cursor(row_factory=dict_row)
        created = await (await cursor.execute(CREATE, params)).fetchone()
        assert created is not None
        after_seq = created["after_seq"]
        vitals = [await seq_of(client, await record_vitals(client, "p1")) for _ in range(3)]
        assert min(vitals) > after_seq
        await eventually(
            lambda: _waiting_for_a_lock(database_url, "checkpoints"),
            10,
            "the dispatcher to wait for the subscription",
        )
    checkpoint = (await caught_up(client, DISPATCHER))["checkpoint"]
    owed = [e["seq"] for e in await log_events(client) if after_seq < e["seq"] <= checkpoint]
    queued = await asyncio.to_thread(_queued_seqs, database_url, params["id"])
    assert set(vitals) <= set(owed)
    assert queued[: len(owed)] == owed  # every one, once (later ones may have followed)


@pytest.mark.timeout(60)
async def test_a_subscription_waits_for_a_batch_in_flight_and_reads_the_head_after_it(
    client: httpx.AsyncClient, database_url: str
) -> None:
    """A dispatcher batch holds its checkpoint row from its look at the subscriptions to its
    commit; a subscription created meanwhile must take the head after that commit."""
    await admit(client, "p1")
    await caught_up(client, DISPATCHER)
    batch = await psycopg.AsyncConnection.connect(database_url)
    async with batch, batch.transaction():  # a dispatcher's batch, between claim and commit
        await batch.execute(
            "SELECT position FROM checkpoints WHERE name = %s FOR UPDATE", [DISPATCHER]
        )
        creating = asyncio.create_task(subscribe(client, URL))
        await eventually(
            lambda: _waiting_for_a_lock(database_url, "FOR SHARE"),
            10,
            "the subscription to wait for the batch",
        )
        assert not creating.done()
        sequenced = await seq_of(client, await record_vitals(client, "p1"))
    created = await creating
    assert created["after_seq"] >= sequenced


async def test_a_subscription_created_before_the_dispatcher_ever_ran_registers_its_checkpoint(
    database_url: str,
) -> None:
    """Before the dispatcher's first start there is no row to hold, so a subscription
    registers it, as that start would (from the beginning), and holds it: the dispatcher's
    first batch then waits for the subscription, as any other does."""

    def dispatcher_row() -> tuple[str, int] | None:
        with psycopg.connect(database_url, autocommit=True) as conn:
            found = conn.execute(
                "SELECT kind, position FROM checkpoints WHERE name = %s", [DISPATCHER]
            ).fetchone()
        return None if found is None else (found[0], found[1])

    assert dispatcher_row() is None
    async with AsyncConnectionPool(
        database_url, min_size=1, max_size=2, kwargs={"autocommit": True}
    ) as pool:
        await Subscriptions(pool).create(
            owner=None, url=URL, event_types=[], description="", enabled=True, ordered=False
        )
        assert dispatcher_row() == ("webhooks", 0)
        await Checkpoints(pool).register(DISPATCHER, "webhooks")  # the first start
    assert dispatcher_row() == ("webhooks", 0)
