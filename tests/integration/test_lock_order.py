"""Statements that write several rows, in flight together, take them in one order.

Each test runs writers that overlap the way production's do: staggered, each in a loop, never
all starting together (rows' new versions then move the order a table scan meets them in).
Every one of these deadlocked before its statement fixed an order.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.journal.errors import VersionConflict
from app.journal.repository import Journal, PendingAppend
from app.webhooks.deliveries import Claimed, Deliveries, Result
from app.webhooks.subscriptions import Subscriptions
from tests.support.relay import pending

SUBSCRIPTIONS = 6


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[AsyncConnectionPool]:
    async with AsyncConnectionPool(
        database_url, min_size=4, max_size=6, kwargs={"autocommit": True}
    ) as pool:
        yield pool


# -- the journal --------------------------------------------------------------------------------
@pytest.fixture
async def journals(database_url: str) -> AsyncIterator[list[Journal]]:
    """Two processes' journals: a pool each, so their group commits are separate batches."""
    pools = [
        AsyncConnectionPool(
            database_url, min_size=2, max_size=4, kwargs={"autocommit": True}, open=False
        )
        for _ in range(2)
    ]
    for pool in pools:
        await pool.open(wait=True)
    yield [Journal(pool) for pool in pools]
    for pool in pools:
        await pool.close()


@pytest.mark.timeout(120)
async def test_two_processes_appending_the_same_versions_lose_races_never_whole_batches(
    database_url: str, journals: list[Journal]
) -> None:
    """Two processes (a journal and pool each) both decided the next version of the same
    entities and append them in different orders. Each such command either lands or loses its
    version race (and is re-decided); a deadlock would fail both batches' every command, as a
    503."""
    entities = [f"p{i}" for i in range(60)]
    outcomes: list[BaseException | None] = []
    for version in range(1, 16):
        appends = [
            journal.append(pending(entity, version, f"{n}-{entity}-{version}"))
            for n, journal in enumerate(journals)
            for entity in random.Random(version * 2 + n).sample(entities, len(entities))
        ]
        outcomes += await asyncio.gather(*appends, return_exceptions=True)
    failed = [o for o in outcomes if o is not None and not isinstance(o, VersionConflict)]
    assert not failed, f"{len(failed)} appends failed: {sorted({repr(f)[:80] for f in failed})}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        landed = conn.execute("SELECT count(*) FROM events").fetchone()
    assert landed == (60 * 15,)  # each version once, by one process or the other


def _timers_only(n: int, schedule: list[str], cancel: list[str]) -> PendingAppend:
    """A decision that writes timers and no event (a timer-only command's)."""
    due = datetime.now(UTC).isoformat()
    return PendingAppend(
        entity_type="patient",
        entity_id=f"t{n}",
        first_version=1,
        events=[],
        metadata={},
        timers=[
            {
                "owner": "o",
                "key": key,
                "timer_id": str(uuid.uuid4()),
                "entity_type": "patient",
                "entity_id": f"t{n}",
                "command": "noop",
                "body": {},
                "metadata": {},
                "due_at": due,
            }
            for key in schedule
        ],
        cancelled_timers=[{"owner": "o", "key": key} for key in cancel],
    )


@pytest.mark.timeout(120)
async def test_batches_scheduling_and_cancelling_the_same_timers_never_deadlock(
    journals: list[Journal],
) -> None:
    """Scheduling and cancelling are two parts of the append over one key space: one batch
    may cancel k2 while scheduling k1, another the reverse. Every append must land."""
    keys = [f"k{i}" for i in range(6)]

    async def append_again_and_again(journal: Journal, seed: int) -> list[BaseException]:
        """One at a time, so a batch never holds a key twice (as commands' timers do not)."""
        chosen, failed = random.Random(seed), []
        for n in range(300):
            picked = chosen.sample(keys, 4)
            try:
                await journal.append(_timers_only(seed * 1000 + n, picked[:2], picked[2:]))
            except psycopg.Error as error:
                failed.append(error)
        return failed

    results = await asyncio.gather(
        *(append_again_and_again(journal, n) for n, journal in enumerate(journals))
    )
    failed = [error for errors in results for error in errors]
    assert not failed, f"{len(failed)} appends failed: {sorted({repr(f)[:80] for f in failed})}"


# -- webhook subscriptions ------------------------------------------------------------------------
def _subscriptions(database_url: str) -> list[uuid.UUID]:
    """Subscriptions created by one API key."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        key = conn.execute(
            "INSERT INTO api_keys (id, key_hash, hint, name, scopes, origin)"
            " VALUES (gen_random_uuid(), 'h', 'x', 'k', '{}', 'api') RETURNING id"
        ).fetchone()
        return [
            conn.execute(
                "INSERT INTO webhooks"
                " (id, url, event_types, enabled, ordered, secret, after_seq, owner_key_id)"
                " VALUES (gen_random_uuid(), 'http://127.0.0.1/hook', '[]', true, false, 's', 0,"
                " %s) RETURNING id",
                key,
            ).fetchone()[0]
            for _ in range(SUBSCRIPTIONS)
        ]


async def _claimed(deliveries: Deliveries, hooks: list[uuid.UUID], writers: int) -> list[dict]:
    """Per writer, one delivery of each subscription to record results for."""
    return [
        {
            hook: Claimed(
                await deliveries.ping(hook, {"id": str(uuid.uuid4())}),
                hook,
                None,
                uuid.uuid4(),
                "sluice.ping",
                None,
                1,
            )
            for hook in hooks
        }
        for _ in range(writers)
    ]


def _failed(delivery: Claimed) -> Result:
    """A failed attempt: it writes its subscription's health every time."""
    return Result(delivery, datetime.now(UTC), 500, 1, None, "HTTP 500", "pending", 60.0)


async def _record_again_and_again(
    deliveries: Deliveries, claimed: dict[uuid.UUID, Claimed], seed: int, rounds: int
) -> None:
    """Batches of results for every subscription, each batch in another order."""
    shuffled = random.Random(seed)
    for _ in range(rounds):
        order = shuffled.sample(list(claimed), len(claimed))
        await deliveries.record([_failed(claimed[hook]) for hook in order], disable_after=3600)


@pytest.mark.timeout(60)
async def test_batches_of_webhook_results_in_flight_together_never_deadlock(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    """A batch updates the health of each subscription it holds results for, and the pump
    writes two batches at a time. A deadlock loses a whole batch of results: its deliveries
    are sent again once their lease ends (an ordered subscription's twice, in CI)."""
    deliveries = Deliveries(pool)
    claimed = await _claimed(deliveries, _subscriptions(database_url), 4)
    await asyncio.gather(
        *(_record_again_and_again(deliveries, mine, n, 100) for n, mine in enumerate(claimed))
    )
    with psycopg.connect(database_url, autocommit=True) as conn:
        attempts = conn.execute("SELECT count(*) FROM webhook_attempts").fetchone()
    assert attempts == (4 * SUBSCRIPTIONS * 100,)


@pytest.mark.timeout(60)
async def test_a_revoked_keys_subscriptions_stop_while_their_results_are_recorded(
    database_url: str, pool: AsyncConnectionPool
) -> None:
    """Every process disables a revoked key's subscriptions (on each key change, and every
    30 s); the pump may be recording their results just then. Neither may deadlock: a lost
    disable leaves the subscriptions sending for up to 30 s more, lost results send again."""
    hooks = _subscriptions(database_url)
    deliveries, subscriptions = Deliveries(pool), Subscriptions(pool)
    claimed = await _claimed(deliveries, hooks, 2)
    recording = asyncio.gather(
        *(_record_again_and_again(deliveries, mine, n, 150) for n, mine in enumerate(claimed))
    )
    disabled = 0
    try:
        while not recording.done():
            async with pool.connection() as conn:  # the key revoked, its subscriptions enabled
                await conn.execute("UPDATE api_keys SET revoked_at = now()")
                for hook in hooks:  # one by one: no order of their own
                    await conn.execute("UPDATE webhooks SET enabled = true WHERE id = %s", [hook])
            disabled += await subscriptions.disable_revoked_owners()
    finally:
        if not recording.done():  # this side failed: stop the other before the pool closes
            recording.cancel()
            await asyncio.gather(recording, return_exceptions=True)
    await recording
    assert disabled >= SUBSCRIPTIONS
    with psycopg.connect(database_url, autocommit=True) as conn:
        enabled = conn.execute("SELECT count(*) FROM webhooks WHERE enabled").fetchone()
    assert enabled == (0,)
