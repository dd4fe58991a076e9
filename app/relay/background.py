"""Stopping background tasks the same way everywhere."""

from __future__ import annotations

import asyncio
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
