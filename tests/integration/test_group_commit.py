"""Group commit: concurrent appends share a statement, yet each command stays atomic alone."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.journal.errors import IdempotencyKeyTaken, VersionConflict
from app.journal.repository import Journal, PendingAppend
from app.services.ward.patient import PatientAdmitted
from tests.support.db import table_counts
from tests.support.relay import ADMITTED, pending


@pytest.fixture
async def journal(database_url: str):  # type: ignore[no-untyped-def]
    pool = AsyncConnectionPool(
        database_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    yield Journal(pool)
    await pool.close()


async def test_concurrent_appends_share_one_commit(
    journal: Journal, db: psycopg.Connection
) -> None:
    await asyncio.gather(*(journal.append(pending(f"p{i}")) for i in range(20)))
    assert journal.batcher.items == 20
    assert journal.batcher.batches == 1
    assert table_counts(db)["events"] == table_counts(db)["outbox"] == 20
    xids = db.execute("SELECT count(DISTINCT xmin::text) FROM events").fetchone()
    assert xids == (1,)


async def test_a_conflict_in_a_batch_fails_only_its_own_command(
    journal: Journal, db: psycopg.Connection
) -> None:
    await journal.append(pending("taken"))
    results = await asyncio.gather(
        journal.append(pending("a")),
        journal.append(pending("taken")),  # version 1 exists: this one must fail alone
        journal.append(pending("b")),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], VersionConflict)
    rows = db.execute("SELECT entity_id FROM events ORDER BY id").fetchall()
    assert sorted(entity for (entity,) in rows) == ["a", "b", "taken"]
    assert table_counts(db)["outbox"] == 3


async def test_versions_lost_to_another_writer_are_named_and_the_rest_land_together(
    journal: Journal, db: psycopg.Connection
) -> None:
    """Another process appended to three of these entities first (this one's cache was
    stale): one read names the three, and the other seven commit together, not one by one."""
    for entity in ("s0", "s1", "s2"):
        await journal.append(pending(entity))
    wanted = [f"s{i}" for i in range(3)] + [f"f{i}" for i in range(7)]
    results = await asyncio.gather(
        *(journal.append(pending(entity)) for entity in wanted), return_exceptions=True
    )
    assert all(isinstance(result, VersionConflict) for result in results[:3]), results
    assert "at version 1 already" in str(results[0])
    assert results[3:] == [None] * 7
    fresh = db.execute(
        "SELECT count(DISTINCT xmin::text) FROM events WHERE entity_id LIKE 'f%'"
    ).fetchone()
    assert fresh == (1,)  # one commit for the seven
    assert journal.batcher.batches == 3 + 1  # the three setup appends, and the batch


@pytest.mark.parametrize("name", ["A\x00da", "A\ud800da"], ids=["nul", "lone-surrogate"])
async def test_a_value_the_database_refuses_fails_only_its_own_command(
    journal: Journal, db: psycopg.Connection, name: str
) -> None:
    """E.g. an action's command carrying a NUL character or a lone surrogate (HTTP bodies
    are refused earlier). The second is one the JSON encoder itself cannot write as UTF-8."""
    poisoned = pending("poisoned")
    poisoned.events[0] = (uuid.uuid4(), PatientAdmitted(name=name, ward="W1", bed="1"))
    results = await asyncio.gather(
        journal.append(pending("a")),
        journal.append(poisoned),
        journal.append(pending("b")),
        return_exceptions=True,
    )
    assert results[0] is None and results[2] is None
    assert isinstance(results[1], psycopg.errors.DataError)  # or a subclass: untranslatable
    rows = db.execute("SELECT entity_id FROM events ORDER BY id").fetchall()
    assert sorted(entity for (entity,) in rows) == ["a", "b"]


async def test_one_idempotency_key_twice_in_a_batch_lands_once(
    journal: Journal, db: psycopg.Connection
) -> None:
    results = await asyncio.gather(
        journal.append(pending("x", key="same")),
        journal.append(pending("y", key="same")),
        return_exceptions=True,
    )
    assert sum(isinstance(r, IdempotencyKeyTaken) for r in results) == 1
    assert table_counts(db)["events"] == 1
    assert table_counts(db)["command_log"] == 1


async def test_events_of_one_command_keep_their_order_inside_a_batch(
    journal: Journal, db: psycopg.Connection
) -> None:
    many = PendingAppend(
        entity_type="patient",
        entity_id="m",
        first_version=1,
        events=[(uuid.uuid4(), ADMITTED) for _ in range(5)],
        metadata={},
    )
    await asyncio.gather(journal.append(pending("other")), journal.append(many))
    versions = db.execute("SELECT version FROM events WHERE entity_id = 'm' ORDER BY id").fetchall()
    assert [v for (v,) in versions] == [1, 2, 3, 4, 5]
