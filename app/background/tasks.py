"""Stopping background tasks the same way everywhere."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel ``task`` and wait until it has finished its cleanup (closing connections).

    Cancels again until it is done: on Python 3.11, ``asyncio.wait_for`` (psycopg_pool uses it
    to hand out connections) can swallow a cancellation that races with its result, and a
    worker cancelled once would then run on forever.
    """
    if task is None:
        return
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=1.0)
    if not task.cancelled():
        task.exception()  # retrieved: a worker's crash was logged where it happened


async def wait_for(event: asyncio.Event, seconds: float) -> None:
    """Sleep until ``event`` is set or ``seconds`` pass (then poll anyway).

    asyncio.timeout, not asyncio.wait_for: on Python 3.11 wait_for can swallow a cancellation
    that races with its timeout, and the cancelled worker then never stops.
    """
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


async def first_of(*waits: Awaitable[Any]) -> None:
    """Wait until the first of ``waits`` finishes and cancel the others: a wait cut short by
    a wake-up (a poll by a notification, a long poll by a stop or an operator's control)."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            if not task.done():
                task.cancel()


def describe(error: BaseException) -> str:
    """An error as one line for a status or a log: its class and its message."""
    return f"{type(error).__name__}: {error}"
