"""SIGTERM: WebSocket clients are told where to resume (1001), leadership moves at once,
commands in flight finish, and a client resuming on another process misses nothing."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.support.auth import AUTH_HEADERS
from tests.support.servers import SluiceProcess
from tests.support.ward import ADMIT

pytestmark = pytest.mark.timeout(240)


def serve(database_url: str, tmp_path: Path) -> SluiceProcess:
    env = {"DATABASE_URL": database_url, "SLUICE_LEADER_RETRY_SECONDS": "0.5"}
    process = SluiceProcess(env, tmp_path)
    process.wait_ready()
    return process


def ws_url(process: SluiceProcess, after: int) -> str:
    return process.url.replace("http://", "ws://") + f"/ws/events?after={after}"


async def read_until_closed(
    socket: websockets.ClientConnection, seqs: list[int]
) -> tuple[int, str]:
    try:
        async for message in socket:
            seqs.append(json.loads(message)["seq"])
    except ConnectionClosed:
        pass
    assert socket.close_code is not None
    return socket.close_code, socket.close_reason or ""


async def sequencer_role(http: httpx.AsyncClient, process: SluiceProcess) -> str:
    return str((await http.get(f"{process.url}/readyz")).json().get("sequencer"))


async def test_sigterm_says_where_to_resume_hands_over_and_loses_nothing(
    database_url: str, tmp_path: Path
) -> None:
    one = serve(database_url, tmp_path)
    two = serve(database_url, tmp_path)
    try:
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as http:
            assert await sequencer_role(http, one) == "leader"  # the first one took it
            for n in range(50):
                reply = await http.post(f"{one.url}/entities/patient/p{n}/admit", json=ADMIT)
                assert reply.status_code == 200
            clients = [
                await websockets.connect(ws_url(one, 0), additional_headers=AUTH_HEADERS)
                for _ in range(3)
            ]
            received: list[list[int]] = [[] for _ in clients]
            readers = [
                asyncio.create_task(read_until_closed(c, seqs))
                for c, seqs in zip(clients, received, strict=True)
            ]
            # commands in flight as the signal lands: each one answered is kept
            in_flight = [
                asyncio.create_task(
                    http.post(f"{one.url}/entities/patient/late{n}/admit", json=ADMIT)
                )
                for n in range(20)
            ]
            await asyncio.sleep(0.05)
            one.terminate()
            signalled = time.monotonic()
            closes = await asyncio.gather(*readers)
            late = await asyncio.gather(*in_flight, return_exceptions=True)

            for code, reason in closes:
                assert code == 1001, (code, reason)
                assert json.loads(reason)["error"] == "going-away"
            while await sequencer_role(http, two) != "leader":
                assert time.monotonic() - signalled < 5, "the standby took over at once"
                await asyncio.sleep(0.05)
            # uvicorn re-raises the signal once it has shut down cleanly
            assert one.process.wait(30) in (0, -signal.SIGTERM), one.log()
            assert "Application shutdown complete" in one.log()

            for n in range(50, 80):  # the log goes on, on the other process
                reply = await http.post(f"{two.url}/entities/patient/p{n}/admit", json=ADMIT)
                assert reply.status_code == 200
            acknowledged = 80 + sum(
                1 for r in late if isinstance(r, httpx.Response) and r.status_code == 200
            )
            assert all(
                isinstance(r, httpx.TransportError)
                or (isinstance(r, httpx.Response) and r.status_code in (200, 503))
                for r in late
            ), late
            head = (await http.get(f"{two.url}/events?after=0&limit=1")).json()["head"]
            assert head >= acknowledged

        for (_, reason), seqs in zip(closes, received, strict=True):
            resume_after = json.loads(reason)["resume_after"]
            assert seqs == list(range(1, resume_after + 1)), "resume_after = the last one sent"
            async with websockets.connect(
                ws_url(two, resume_after), additional_headers=AUTH_HEADERS
            ) as again:
                while not seqs or seqs[-1] < head:
                    seqs.append(json.loads(await asyncio.wait_for(again.recv(), 10))["seq"])
            assert seqs == list(range(1, head + 1)), "no gap, no repeat across the hand-over"
    finally:
        one.close()
        two.close()
