"""Helpers for relay tests: bulk events straight into the journal, and waiting on the log."""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg
from psycopg_pool import AsyncConnectionPool

from app.journal.repository import IdempotencyRecord, Journal, PendingAppend
from app.services.ward.patient import PatientAdmitted, VitalsRecorded
from tests.support.ward import NORMAL_VITALS

VITALS_EVENT = VitalsRecorded(**NORMAL_VITALS, ward="W1", spo2_scale=1)


ADMITTED = PatientAdmitted(name="Ada", ward="W1", bed="1")


def pending(entity_id: str, version: int = 1, key: str | None = None) -> PendingAppend:
    """An admission to append at ``version``, with an idempotency record when ``key``."""
    record = IdempotencyRecord("", key, f"hash-{entity_id}", {"ok": True}) if key else None
    return PendingAppend(
        entity_type="patient",
        entity_id=entity_id,
        first_version=version,
        events=[(uuid.uuid4(), ADMITTED)],
        metadata={},
        idempotency=record,
    )


async def bulk_append(
    database_url: str, *, entities: int, per_entity: int, prefix: str = "bulk", first: int = 1
) -> None:
    """entities x per_entity VitalsRecorded events, appended through the real journal."""
    pool = AsyncConnectionPool(
        database_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    journal = Journal(pool)
    try:
        await asyncio.gather(
            *(
                journal.append(
                    PendingAppend(
                        entity_type="patient",
                        entity_id=f"{prefix}-{entity}",
                        first_version=first,
                        events=[(uuid.uuid4(), VITALS_EVENT) for _ in range(per_entity)],
                        metadata={"command": "bulk"},
                    )
                )
                for entity in range(entities)
            )
        )
    finally:
        await pool.close()


def wait_until_sequenced(database_url: str, expected: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            done = conn.execute("SELECT count(*) FROM events WHERE seq IS NOT NULL").fetchone()
            if done and done[0] >= expected:
                return
            time.sleep(0.05)
    raise AssertionError(f"fewer than {expected} events sequenced within {timeout}s")


async def sequenced(database_url: str, expected: int, seconds: float = 30) -> None:
    """Wait (without blocking the event loop the sequencer may share) for ``expected``."""
    await asyncio.to_thread(wait_until_sequenced, database_url, expected, seconds)


def assert_log_is_gapless(conn: psycopg.Connection, expected: int) -> None:
    rows = conn.execute("SELECT seq FROM events ORDER BY seq").fetchall()
    assert [seq for (seq,) in rows] == list(range(1, expected + 1))
    assert conn.execute("SELECT count(*) FROM outbox").fetchone() == (0,)
    regressions = conn.execute(
        "SELECT count(*) FROM (SELECT version - lag(version) OVER w AS step FROM events"
        " WINDOW w AS (PARTITION BY entity_type, entity_id ORDER BY seq)) s WHERE step <> 1"
    ).fetchone()
    assert regressions == (0,), "an entity's versions are out of seq order"
