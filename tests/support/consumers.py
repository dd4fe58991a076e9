"""Waiting on consumers through the API, as an operator would watch them."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx
from fastapi import FastAPI

from app.relay.consumer import ConsumerWorker


async def status(http: httpx.AsyncClient, name: str) -> dict[str, Any]:
    response = await http.get(f"/consumers/{name}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_for_status(
    http: httpx.AsyncClient,
    name: str,
    condition: Callable[[dict[str, Any]], bool],
    seconds: float = 15,
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        current = await status(http, name)
        if condition(current):
            return current
        if time.monotonic() > deadline:
            raise AssertionError(f"{name} never got there; last status: {current}")
        await asyncio.sleep(0.05)


async def caught_up(http: httpx.AsyncClient, name: str, seconds: float = 15) -> dict[str, Any]:
    """Wait until ``name`` has handled everything in the log (and the log has settled)."""

    def done(current: dict[str, Any]) -> bool:
        settled = not current.get("unsequenced")  # nothing committed is waiting for its seq
        return (
            current["state"] == "running" and current["checkpoint"] == current["head"] and settled
        )

    return await wait_for_status(http, name, done, seconds)


def consumer_workers(app: FastAPI) -> list[ConsumerWorker]:
    """The consumer workers of an app running in this process (to watch them from a test)."""
    return [w for w in app.state.runtime.workers if isinstance(w, ConsumerWorker)]
