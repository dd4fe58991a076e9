"""A WebSocket meets what goes wrong: the database down when it connects or while it reads
the journal, and a client that sends binary frames. Each ends with a proper answer — a 503
before accept, or a close frame with a code and the seq to resume after — never a dropped
connection (1006) and a traceback."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.main import create_app
from app.settings import Settings
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.own_database import OwnDatabase
from tests.support.relay import bulk_append, sequenced
from tests.support.servers import uvicorn_in_thread
from tests.support.sockets import ws_url
from tests.support.ward import ADMIT

pytestmark = pytest.mark.timeout(120)


def outage_settings(tmp_path: Path) -> Settings:
    return Settings(
        admin_key=ADMIN_KEY,
        data_dir=tmp_path / "data",
        db_timeout_seconds=1,
        relay_poll_seconds=0.2,
        leader_retry_seconds=0.5,
    )


async def test_connecting_while_the_database_is_down_is_refused_503_before_accept(
    own_database: OwnDatabase, tmp_path: Path
) -> None:
    app = create_app(outage_settings(tmp_path), database_url=own_database.url)
    with uvicorn_in_thread(app) as base:
        await asyncio.to_thread(own_database.stop)
        try:
            with pytest.raises(InvalidStatus) as refused:
                await websockets.connect(ws_url(base, "after=0"), additional_headers=AUTH_HEADERS)
            answer = refused.value.response
            assert answer.status_code == 503
            assert answer.headers["content-type"] == "application/problem+json"
            assert json.loads(answer.body)["type"].endswith("/database-unavailable")
        finally:
            await asyncio.to_thread(own_database.start)
        # and once it is back (the pool reconnecting in its own time), the same request is
        # served
        deadline = time.monotonic() + 20
        while True:
            try:
                async with websockets.connect(ws_url(base), additional_headers=AUTH_HEADERS):
                    break
            except InvalidStatus as still:
                assert still.response.status_code == 503
                assert time.monotonic() < deadline, "never served after the outage"
                await asyncio.sleep(0.2)


async def test_a_journal_read_during_an_outage_closes_1013_with_the_resume_seq(
    own_database: OwnDatabase, tmp_path: Path
) -> None:
    await bulk_append(own_database.url, entities=2, per_entity=3)
    app = create_app(outage_settings(tmp_path), database_url=own_database.url)
    with uvicorn_in_thread(app) as base:
        await sequenced(own_database.url, 6)
        async with websockets.connect(
            ws_url(base, "after=0&entity_id=bulk-0"), additional_headers=AUTH_HEADERS
        ) as ws:
            seqs = [json.loads(await ws.recv())["seq"] for _ in range(3)]
            await asyncio.to_thread(own_database.stop)
            try:
                # rewinding makes the server read old events from the journal: it cannot
                await ws.send(json.dumps({"action": "subscribe", "after": 0}))
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 30)
            finally:
                await asyncio.to_thread(own_database.start)
    frame = closed.value.rcvd
    assert frame is not None, "closed without a close frame (1006)"
    assert frame.code == 1013
    reason = json.loads(frame.reason)
    assert reason["error"] == "database-unavailable"
    assert reason["resume_after"] in (0, seqs[-1])  # what it last sent under the new filter


async def test_a_binary_frame_is_closed_1003(settings: Settings, database_url: str) -> None:
    with uvicorn_in_thread(create_app(settings, database_url=database_url)) as base:
        async with websockets.connect(ws_url(base), additional_headers=AUTH_HEADERS) as ws:
            await ws.send(b'{"action": "subscribe"}')
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1003


async def test_a_revoked_key_loses_its_open_sockets_on_every_process(
    settings: Settings, database_url: str
) -> None:
    """Revoked through one process; a socket held on the other is closed within seconds, with
    4401 and where to resume, while a socket of another key stays open."""
    one = uvicorn_in_thread(create_app(settings, database_url=database_url))
    two = uvicorn_in_thread(create_app(settings, database_url=database_url))
    with one as url_one, two as url_two:
        async with httpx.AsyncClient(base_url=url_one, headers=AUTH_HEADERS) as http:
            made = await http.post("/admin/keys", json={"name": "r", "scopes": ["events:read"]})
            doomed = made.json()
            url = ws_url(url_two, f"access_token={doomed['key']}")
            async with (
                websockets.connect(url) as revoked,
                websockets.connect(ws_url(url_two), additional_headers=AUTH_HEADERS) as kept,
            ):
                assert (await http.delete(f"/admin/keys/{doomed['id']}")).status_code == 200
                with pytest.raises(ConnectionClosed) as closed:
                    await asyncio.wait_for(revoked.recv(), 10)
                await http.post("/entities/patient/p1/admit", json=ADMIT)
                assert json.loads(await asyncio.wait_for(kept.recv(), 10))["subject"] == "p1"
    frame = closed.value.rcvd
    assert frame is not None and frame.code == 4401
    assert json.loads(frame.reason) == {"error": "key-revoked", "resume_after": 0}
