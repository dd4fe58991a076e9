"""The process's one LISTEN connection: channels registered before and after it connects."""

from __future__ import annotations

import asyncio

import psycopg

from app.background.listener import LATE_CHANNEL_SECONDS, Listener
from app.background.settings import WorkerSettings
from tests.support.waiting import eventually


def notify(url: str, channel: str, payload: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("SELECT pg_notify(%s, %s)", [channel, payload])


async def test_a_channel_registered_after_connecting_is_heard(database_url: str) -> None:
    listener = Listener(database_url, WorkerSettings())
    early: list[str] = []
    listener.on_payload("test_early", early.append)
    listener.start()
    try:
        await asyncio.wait_for(listener.connected.wait(), 10)
        late: list[str] = []
        listener.on_payload("test_late", late.append)
        woken = listener.waker("test_late_waker")
        # Registered late: listened to within the loop's period, and told that anything
        # may have happened before (a reader hears "", a waiter is woken).
        await eventually(lambda: "" in late, LATE_CHANNEL_SECONDS * 5, "the late reader told")
        await asyncio.wait_for(woken.wait(), LATE_CHANNEL_SECONDS * 5)
        woken.clear()
        notify(database_url, "test_late", "hello")
        notify(database_url, "test_late_waker", "")
        notify(database_url, "test_early", "still")
        await eventually(lambda: "hello" in late and "still" in early, 5, "both payloads")
        await asyncio.wait_for(woken.wait(), 5)
        assert set(listener.listened) >= {"test_early", "test_late", "test_late_waker"}
    finally:
        await listener.stop()
