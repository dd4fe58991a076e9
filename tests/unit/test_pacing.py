"""Pacing on the real event loop and clock: waits on time keep the least interval, waits a
busy loop wakes late lengthen it up to the most, and it comes back once the loop is free."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from app.relay.pacing import Pacing


async def paced_batches(pacing: Pacing, count: int) -> int:
    """``count`` batches of a consumer that catches up each time; how many waited."""
    waited = 0
    for _ in range(count):
        waited += await pacing.wait_after(time.monotonic())
    return waited


@asynccontextmanager
async def busy_loop(turn_seconds: float) -> AsyncIterator[None]:
    """The loop kept full, as requests keep a saturated process's: up to ``turn_seconds`` of
    work between each turn (random, as requests' are)."""

    async def hog() -> None:
        while True:
            busy_until = time.perf_counter() + random.uniform(0, turn_seconds)
            while time.perf_counter() < busy_until:
                pass
            await asyncio.sleep(0)

    task = asyncio.create_task(hog())
    try:
        yield
    finally:
        task.cancel()


# An idle loop's interval is the least, give or take a turn the OS took the CPU away for
# (a whole test suite runs on this box meanwhile).
IDLE = 0.02


async def test_an_idle_loop_keeps_about_the_least_interval() -> None:
    pacing = Pacing(0.01, 0.05)
    assert await paced_batches(pacing, 20) == 20
    assert 0.01 <= pacing.interval < IDLE


async def test_a_busy_loop_lengthens_the_interval_up_to_the_most_and_a_free_one_shortens_it():
    pacing = Pacing(0.01, 0.05)
    await paced_batches(pacing, 5)  # idle
    assert pacing.interval < IDLE
    async with busy_loop(0.008):
        await paced_batches(pacing, 30)
    assert 0.03 < pacing.interval <= 0.05, pacing.interval
    assert pacing.busy > 0.001

    await paced_batches(pacing, 60)  # the loop free again
    assert pacing.interval < IDLE, pacing.interval


async def test_no_pacing_stays_none_however_busy_the_loop() -> None:
    pacing = Pacing(0, 0.05)
    async with busy_loop(0.008):
        assert await paced_batches(pacing, 10) == 0
    assert pacing.interval == 0


async def test_a_most_below_the_least_is_the_least() -> None:
    pacing = Pacing(0.02, 0.01)
    await paced_batches(pacing, 5)
    async with busy_loop(0.008):
        await paced_batches(pacing, 10)
    assert pacing.interval == 0.02
