"""The sequencer: gapless seq in commit order, one leader, bounded batches."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import psycopg
import pytest

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.journal import sql as journal_sql
from app.journal.commands import CommandRequest
from app.relay.sequencer import Sequencer
from app.relay.settings import SequencerSettings
from app.services.ward import service as ward
from app.services.ward.patient import Admit, RecordVitals
from tests.support.relay import assert_log_is_gapless, bulk_append, sequenced
from tests.support.runners import runner_on
from tests.support.ward import ADMIT, NORMAL_VITALS
from tests.support.webhooks import eventually


def hold_an_append(conn: psycopg.Connection, entity_id: str) -> None:
    """Append one event in an open transaction on ``conn`` (committed by the caller)."""
    row = {
        "event_id": str(uuid.uuid4()),
        "entity_type": "patient",
        "entity_id": entity_id,
        "version": 1,
        "type": "PatientAdmitted",
        "schema_version": 1,
        "data": {"name": "Late", "ward": "W1", "bed": "1", "spo2_scale": 1},
        "metadata": {},
    }
    params = {
        "lock_namespace": journal_sql.ENTITY_LOCK_NAMESPACE,
        "events": json.dumps([row]),
        "origin": "test",
        "names_below": 0.01,
        "with_events": False,
    }
    statement = journal_sql.append_batch(
        commands=False, snapshots=False, timers=False, cancels=False
    )
    conn.execute(statement, params)


async def test_a_late_commit_is_sequenced_after_an_early_one(
    client: httpx.AsyncClient, database_url: str, db: psycopg.Connection
) -> None:
    with psycopg.connect(database_url) as slow:  # transaction A: inserted first, commits last
        hold_an_append(slow, "late")
        response = await client.post("/entities/patient/early/admit", json=ADMIT)  # B
        assert response.status_code == 200
        await sequenced(database_url, 1)
        slow.commit()
    await sequenced(database_url, 2)
    ids = db.execute("SELECT entity_id, id, seq FROM events ORDER BY seq").fetchall()
    assert [(entity, seq) for entity, _, seq in ids] == [("early", 1), ("late", 2)]
    assert ids[0][1] > ids[1][1], "A's row id is smaller: seq follows commits, not ids"

    page = (await client.get("/events?after=0")).json()
    assert [(e["seq"], e["subject"]) for e in page["events"]] == [(1, "early"), (2, "late")]
    assert page["next_after"] == 2 and page["head"] == 2
    assert (await client.get("/events?after=1")).json()["events"][0]["subject"] == "late"


async def test_twenty_writers_make_a_gapless_log(
    client: httpx.AsyncClient, database_url: str, db: psycopg.Connection
) -> None:
    patients = [f"p{i}" for i in range(40)]
    async with runner_on(database_url, ward, pool_size=8) as runner:
        for patient_id in patients:
            await runner.run(CommandRequest("patient", patient_id, "admit", Admit(**ADMIT)))

        async def writer(index: int) -> None:
            for n in range(200):
                body = RecordVitals(**{**NORMAL_VITALS, "pulse": 51 + n % 40})
                target = patients[(index * 7 + n) % len(patients)]
                await runner.run(CommandRequest("patient", target, "record-vitals", body))

        await asyncio.gather(*(writer(i) for i in range(20)))
    total = len(patients) + 20 * 200
    await sequenced(database_url, total)
    assert_log_is_gapless(db, total)


async def test_batches_are_bounded_and_the_backlog_drains(
    database_url: str, db: psycopg.Connection
) -> None:
    await bulk_append(database_url, entities=30, per_entity=100)
    listener = Listener(database_url, WorkerSettings())
    sequencer = Sequencer(
        database_url, listener, SequencerSettings(batch_size=700), WorkerSettings(poll_seconds=0.05)
    )
    listener.start()
    sequencer.start()
    try:
        await sequenced(database_url, 3000)
        # the last batch is committed before its statement's answer reaches the sequencer:
        # stopping now could cancel it before it counts the batch (seen once in CI)
        await eventually(lambda: sequencer.stats.head == 3000, 10, "the sequencer's own count")
    finally:
        await sequencer.stop()
        await listener.stop()
    assert sequencer.stats.batches >= 3000 // 700
    assert_log_is_gapless(db, 3000)


async def test_one_leader_and_a_quick_takeover(database_url: str) -> None:
    listener = Listener(database_url, WorkerSettings())
    quick = WorkerSettings(leader_retry_seconds=0.2)
    first = Sequencer(database_url, listener, SequencerSettings(), quick)
    second = Sequencer(database_url, listener, SequencerSettings(), quick)
    listener.start()
    first.start()
    try:
        await eventually(lambda: first.stats.leading, 5, "the first to lead")
        second.start()
        await eventually(lambda: second.stats.lock_tries >= 3, 5, "the second to try, thrice")
        assert (first.stats.leading, second.stats.leading) == (True, False)
        await first.stop()
        started = time.monotonic()
        while not second.stats.leading:
            assert time.monotonic() - started < 5, "no takeover within 5 s"
            await asyncio.sleep(0.05)
        await bulk_append(database_url, entities=3, per_entity=5)
        await sequenced(database_url, 15)
    finally:
        await first.stop()
        await second.stop()
        await listener.stop()


@pytest.mark.parametrize("limit", [1, 7])
async def test_log_pages_and_filters(
    client: httpx.AsyncClient, database_url: str, limit: int
) -> None:
    for patient_id in ("a", "b"):
        await client.post(f"/entities/patient/{patient_id}/admit", json=ADMIT)
        await client.post(f"/entities/patient/{patient_id}/record-vitals", json=NORMAL_VITALS)
    await client.post("/entities/alert/a/raise", json={"ward": "W1", "score": 5, "risk": "medium"})
    await sequenced(database_url, 5)

    seen, after = [], 0
    while True:
        page = (await client.get(f"/events?after={after}&limit={limit}")).json()
        seen += [e["seq"] for e in page["events"]]
        if not page["events"]:
            break
        after = page["next_after"]
    assert seen == [1, 2, 3, 4, 5]

    vitals = (await client.get("/events?type=patient.VitalsRecorded")).json()
    assert [e["subject"] for e in vitals["events"]] == ["a", "b"]
    assert vitals["next_after"] == 5, "a filtered reader may skip to the head"
    alerts = (await client.get("/events?entity_type=alert")).json()["events"]
    assert [e["type"] for e in alerts] == ["alert.AlertRaised"]
    only_b = (await client.get("/events?entity_type=patient&entity_id=b")).json()["events"]
    assert [e["entityversion"] for e in only_b] == [1, 2]
    bad = await client.get("/events?limit=5000")
    assert bad.status_code == 422
