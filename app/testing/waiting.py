"""Waiting, in a test, for the service to have done what follows from its log."""

from __future__ import annotations

import asyncio
import time
from typing import Any


async def caught_up(client: Any, seconds: float = 15.0) -> list[dict[str, Any]]:
    """Wait until every consumer the service declares (views, actions, webhook dispatch) has
    handled the whole log, and say how they stand; fail after ``seconds``. The whole log
    includes what was committed and not numbered yet (``unsequenced``): a command answered
    a moment ago is in it.

    A consumer of another service's stream counts once its producer can be read: one whose
    producer is not there (``upstream-unavailable``) is not behind this service's log."""
    deadline = time.monotonic() + seconds
    while True:
        answer = await client.get("/consumers")
        answer.raise_for_status()
        consumers = [
            c for c in answer.json() if c["state"] not in ("retired", "upstream-unavailable")
        ]
        if all(
            c["checkpoint"] >= c["head"] and c["state"] == "running" and not c.get("unsequenced")
            for c in consumers
        ):
            return list(consumers)
        failing = [c for c in consumers if c["state"] == "failing"]
        if failing:
            raise AssertionError(
                f"a consumer is failing: {failing[0]['name']}: {failing[0]['error']}"
            )
        if time.monotonic() > deadline:
            behind = [(c["name"], c["state"], c["lag_events"]) for c in consumers]
            raise AssertionError(f"consumers not caught up after {seconds:g}s: {behind}")
        await asyncio.sleep(0.05)
