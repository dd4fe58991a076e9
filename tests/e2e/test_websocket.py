"""WS /ws/events with real `websockets` clients against uvicorn on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from app.main import create_app
from app.settings import Settings
from tests.support.auth import AUTH_HEADERS
from tests.support.relay import bulk_append, sequenced
from tests.support.servers import uvicorn_in_thread
from tests.support.sockets import small_buffer_socket, ws_url
from tests.support.waiting import eventually


async def receive_seqs(
    ws: websockets.ClientConnection, count: int, seconds: float = 60
) -> list[int]:
    seqs: list[int] = []
    async with asyncio.timeout(seconds):
        while len(seqs) < count:
            seqs.append(json.loads(await ws.recv())["seq"])
    return seqs


@pytest.mark.timeout(180)
async def test_catch_up_of_10000_then_live_1000_arriving_meanwhile(
    settings: Settings, database_url: str
) -> None:
    await bulk_append(database_url, entities=100, per_entity=100)  # waits in the outbox
    with uvicorn_in_thread(create_app(settings, database_url=database_url)) as base:
        await sequenced(database_url, 10_000)
        async with websockets.connect(
            ws_url(base, "after=0"), max_size=2**20, additional_headers=AUTH_HEADERS
        ) as ws:
            writing = asyncio.create_task(
                bulk_append(database_url, entities=100, per_entity=10, first=101)
            )
            seqs = await receive_seqs(ws, 11_000)
            await writing
    assert seqs == list(range(1, 11_001))


async def test_without_after_the_stream_starts_live(settings: Settings, database_url: str) -> None:
    with uvicorn_in_thread(create_app(settings, database_url=database_url)) as base:
        await bulk_append(database_url, entities=5, per_entity=2)
        await sequenced(database_url, 10)
        async with websockets.connect(ws_url(base), additional_headers=AUTH_HEADERS) as ws:
            # accepted once its cursor was set at the head: what comes now is live
            await bulk_append(database_url, entities=3, per_entity=1, prefix="new")
            seqs = await receive_seqs(ws, 3, seconds=10)
    assert seqs == [11, 12, 13]


async def test_filters_and_a_resume_message(settings: Settings, database_url: str) -> None:
    with uvicorn_in_thread(create_app(settings, database_url=database_url)) as base:
        await bulk_append(database_url, entities=4, per_entity=3)  # bulk-0..3, versions 1..3
        await sequenced(database_url, 12)
        query = "after=0&entity_id=bulk-2&type=patient.VitalsRecorded"
        async with websockets.connect(ws_url(base, query), additional_headers=AUTH_HEADERS) as ws:
            first = [json.loads(await ws.recv()) for _ in range(3)]
            assert {e["subject"] for e in first} == {"bulk-2"}
            assert [e["entityversion"] for e in first] == [1, 2, 3]
            await ws.send(json.dumps({"action": "subscribe", "after": 0, "entity_id": "bulk-0"}))
            again = [json.loads(await ws.recv()) for _ in range(3)]
            assert {e["subject"] for e in again} == {"bulk-0"}
            await ws.send("not json")
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400


@pytest.mark.timeout(120)
async def test_a_slow_client_is_closed_with_its_resume_seq(
    settings: Settings, database_url: str
) -> None:
    total = 20_000  # ~9 MB of messages: more than the socket buffers can hide
    tight = settings.but(ws_queue_size=50, ws_slow_after_seconds=0.5)
    app = create_app(tight, database_url=database_url)
    with uvicorn_in_thread(app) as base:
        await bulk_append(database_url, entities=200, per_entity=100)
        await sequenced(database_url, total)
        ws = await websockets.connect(
            ws_url(base, "after=0"),
            max_queue=4,
            compression=None,  # repetitive events compress ~20x and would fit in buffers
            sock=small_buffer_socket(base),
            additional_headers=AUTH_HEADERS,
        )
        # reads nothing: the server's queue fills, stays full, and the server gives up
        hub = app.state.runtime.hub
        await eventually(lambda: hub.slow_closed >= 1, 30, "the slow client to be closed")
        received: list[int] = []
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                received.append(json.loads(await asyncio.wait_for(ws.recv(), 10))["seq"])
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
        reason = json.loads(closed.value.rcvd.reason)
        assert reason["error"] == "slow-consumer"
        resume_after = reason["resume_after"]
        assert received == list(range(1, resume_after + 1)), "no gap, nothing past the resume seq"
        assert resume_after < total
        assert app.state.runtime.hub.deepest_queue <= 50, "the send queue stayed bounded"

        async with websockets.connect(
            ws_url(base, f"after={resume_after}"), additional_headers=AUTH_HEADERS
        ) as again:
            rest = await receive_seqs(again, total - resume_after)
    assert rest == list(range(resume_after + 1, total + 1))


async def test_a_bad_query_is_refused_before_the_upgrade_with_the_field_named(
    settings: Settings, database_url: str
) -> None:
    """``?after=-1`` is the client's mistake: a 400 problem naming the field, not the bare
    403 a WebSocket refusal otherwise looks like."""
    with (
        uvicorn_in_thread(create_app(settings, database_url=database_url)) as base,
        pytest.raises(InvalidStatus) as refused,
    ):
        async with websockets.connect(ws_url(base, "after=-1"), additional_headers=AUTH_HEADERS):
            pass
    response = refused.value.response
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/problem+json"
    problem = json.loads(response.body)
    assert problem["type"].endswith("invalid-request")
    assert [(e["location"], e["pointer"]) for e in problem["errors"]] == [("query", "#/after")]


async def test_a_bad_subscribe_message_closes_naming_the_field(
    settings: Settings, database_url: str
) -> None:
    with uvicorn_in_thread(create_app(settings, database_url=database_url)) as base:
        async with websockets.connect(
            ws_url(base, "after=0"), additional_headers=AUTH_HEADERS
        ) as ws:
            await ws.send(json.dumps({"action": "subscribe", "after": "soon"}))
            with pytest.raises(ConnectionClosed) as closed:
                await asyncio.wait_for(ws.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4400
    assert closed.value.rcvd.reason.startswith("bad message: after:"), closed.value.rcvd.reason
