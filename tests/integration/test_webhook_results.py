"""Recording attempts' results: the pump writes them in batches, two at a time."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from psycopg_pool import AsyncConnectionPool

from app.webhooks.deliveries import Claimed, Deliveries, Result

SUBSCRIPTIONS = 6
BATCHES = 4
ROUNDS = 100


def _subscriptions(database_url: str, count: int) -> list[uuid.UUID]:
    with psycopg.connect(database_url, autocommit=True) as conn:
        return [
            conn.execute(
                "INSERT INTO webhooks (id, url, event_types, enabled, ordered, secret, after_seq)"
                " VALUES (gen_random_uuid(), 'http://127.0.0.1/hook', '[]', true, false, 's', 0)"
                " RETURNING id"
            ).fetchone()[0]
            for _ in range(count)
        ]


def _failed(delivery: Claimed) -> Result:
    """A failed attempt: it writes its subscription's health every time."""
    return Result(
        delivery=delivery,
        attempted_at=datetime.now(UTC),
        status_code=500,
        latency_ms=1,
        body=None,
        error="HTTP 500",
        status="pending",
        delay=60.0,
    )


@pytest.mark.timeout(60)
async def test_batches_in_flight_together_never_deadlock_on_their_subscriptions(
    database_url: str,
) -> None:
    """Each batch updates the health of every subscription it holds results for. Batches in
    flight at once, holding them in any order, must each wait their turn: a deadlock loses a
    whole batch of results, and its deliveries are sent again once their lease ends. (Before
    the batches locked their subscriptions by id, this failed within a few hundred batches.)"""
    hooks = _subscriptions(database_url, SUBSCRIPTIONS)
    async with AsyncConnectionPool(
        database_url, min_size=BATCHES, max_size=BATCHES, kwargs={"autocommit": True}
    ) as pool:
        deliveries = Deliveries(pool)
        claimed = {
            hook: [
                Claimed(
                    await deliveries.ping(hook, {"id": str(uuid.uuid4())}),
                    hook,
                    None,
                    uuid.uuid4(),
                    "sluice.ping",
                    None,
                    1,
                )
                for _ in range(BATCHES)
            ]
            for hook in hooks
        }

        async def record_again_and_again(n: int) -> None:
            shuffled = random.Random(n)
            for _ in range(ROUNDS):
                order = shuffled.sample(hooks, len(hooks))
                await deliveries.record(
                    [_failed(claimed[hook][n]) for hook in order], disable_after=3600
                )

        await asyncio.gather(*(record_again_and_again(n) for n in range(BATCHES)))
    with psycopg.connect(database_url, autocommit=True) as conn:
        attempts = conn.execute("SELECT count(*) FROM webhook_attempts").fetchone()
    assert attempts == (BATCHES * SUBSCRIPTIONS * ROUNDS,)
