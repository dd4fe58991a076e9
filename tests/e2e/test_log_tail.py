"""The sequencer's notification carries small batches' events to every process's log hub.

The hub must serve them without reading the journal, serve exactly what a read would have
(same JSON), and fall back to the journal whenever the notification cannot be used.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator

import httpx
import psycopg
import websockets
from fastapi import FastAPI

from app.main import create_app
from app.relay.sql import LOG_CHANNEL
from app.settings import Settings
from tests.support.auth import AUTH_HEADERS
from tests.support.relay import bulk_append, sequenced
from tests.support.servers import uvicorn_in_thread
from tests.support.sockets import ws_url


async def receive(ws: websockets.ClientConnection, count: int) -> list[dict]:
    async with asyncio.timeout(20):
        return [json.loads(await ws.recv()) for _ in range(count)]


@contextlib.asynccontextmanager
async def live_client(
    settings: Settings, database_url: str
) -> AsyncIterator[tuple[FastAPI, str, websockets.ClientConnection]]:
    """A served app and a live WebSocket client on it, attached and past its first read.
    Polls would read the journal on their own schedule: only notifications may count."""
    quiet = settings.but(relay_poll_seconds=30.0)
    app = create_app(quiet, database_url=database_url)
    with uvicorn_in_thread(app) as base:
        async with websockets.connect(ws_url(base), additional_headers=AUTH_HEADERS) as ws:
            async with asyncio.timeout(10):  # attached, and its first read done
                while app.state.runtime.hub.journal_reads == 0:  # noqa: ASYNC110 - another thread's loop
                    await asyncio.sleep(0.02)
            yield app, base, ws


async def test_small_batches_come_with_the_notification_as_a_read_would_serve_them(
    settings: Settings, database_url: str
) -> None:
    async with live_client(settings, database_url) as (app, base, ws):
        hub = app.state.runtime.hub
        reads_before = hub.journal_reads
        live = []
        for i in range(20):  # one batch each: every notification carries its event
            await bulk_append(database_url, entities=1, per_entity=1, prefix=f"one{i}")
            live += await receive(ws, 1)
        # At most one read: the sequencer sends a bare head (no rows) while the server's
        # notification queue is over 1% full, which the test server's other databases'
        # listeners can cause in a full run; rows riding along at all is what is tested.
        read_back = hub.journal_reads - reads_before
        assert read_back <= 1, f"{read_back} of 20 batches were read back, not notified"
        async with httpx.AsyncClient(base_url=base, headers=AUTH_HEADERS) as http:
            page = (await http.get("/events", params={"after": 0, "limit": 100})).json()
    assert [event["seq"] for event in live] == list(range(1, 21))
    assert live == page["events"], "the notified events differ from the journal's"


async def test_a_batch_too_big_to_ride_along_is_read_from_the_journal(
    settings: Settings, database_url: str
) -> None:
    async with live_client(settings, database_url) as (app, _, ws):
        hub = app.state.runtime.hub
        reads_before = hub.journal_reads
        await bulk_append(database_url, entities=1, per_entity=200)  # one batch of 200
        seqs = [event["seq"] for event in await receive(ws, 200)]
        assert hub.journal_reads > reads_before
    assert seqs == list(range(1, 201))


async def test_a_foreign_notification_on_the_log_channel_harms_nothing(
    settings: Settings, database_url: str
) -> None:
    async with live_client(settings, database_url) as (_, _, ws):
        with psycopg.connect(database_url, autocommit=True) as conn:
            for payload in ("garbage", "7 [1,2]", '3 [["x"]]', "5 {bad", "99999"):
                conn.execute("SELECT pg_notify(%s, %s)", [LOG_CHANNEL, payload])
        await bulk_append(database_url, entities=3, per_entity=1)
        await sequenced(database_url, 3)
        seqs = [event["seq"] for event in await receive(ws, 3)]
    assert seqs == [1, 2, 3]


async def test_while_the_notification_queue_fills_up_batches_notify_the_head_alone(
    settings: Settings, database_url: str
) -> None:
    """A listener that stops reading holds PostgreSQL's notification queue back; near full,
    every NOTIFY fails. Past the limit the rows stay out of the notification (here the limit
    is 0, as if the queue were already that full) and the hub reads them instead."""
    async with live_client(settings, database_url) as (app, _, ws):
        app.state.runtime.sequencer.rows_in_notify_below = 0.0
        hub = app.state.runtime.hub
        reads_before = hub.journal_reads
        for i in range(3):
            await bulk_append(database_url, entities=1, per_entity=1, prefix=f"one{i}")
            assert [event["seq"] for event in await receive(ws, 1)] == [i + 1]
        assert hub.journal_reads >= reads_before + 3, "the rows still rode in the notification"
