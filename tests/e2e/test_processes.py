"""Several `sluice serve` processes on one PostgreSQL: one sequencer, every client sees all."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import httpx
import psycopg
import pytest
import websockets

from tests.support.auth import AUTH_HEADERS
from tests.support.relay import assert_log_is_gapless, bulk_append
from tests.support.servers import SluiceProcess
from tests.support.ward import ADMIT, vitals


def serve(database_url: str, tmp_path: Path, **settings: str) -> SluiceProcess:
    env = {"DATABASE_URL": database_url, "SLUICE_LEADER_RETRY_SECONDS": "0.5", **settings}
    process = SluiceProcess(env, tmp_path)
    process.wait_ready()
    return process


def ws(process: SluiceProcess, query: str) -> str:
    return process.url.replace("http://", "ws://") + f"/ws/events?{query}"


@pytest.mark.timeout(240)
async def test_clients_on_two_processes_each_get_every_event(
    database_url: str, tmp_path: Path
) -> None:
    one, two = serve(database_url, tmp_path), serve(database_url, tmp_path)
    try:
        clients = [
            await websockets.connect(
                ws(process, "after=0"), max_size=2**20, additional_headers=AUTH_HEADERS
            )
            for process in (one, two, one, two)
        ]
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as http:
            for index in range(20):
                target = (one, two)[index % 2].url
                await http.post(f"{target}/entities/patient/p{index}/admit", json=ADMIT)

            async def send(worker: int) -> None:
                for n in range(49):
                    target = (one, two)[(worker + n) % 2].url
                    body = vitals(pulse=50 + n)
                    response = await http.post(
                        f"{target}/entities/patient/p{worker}/record-vitals", json=body
                    )
                    assert response.status_code == 200, response.text

            await asyncio.gather(*(send(worker) for worker in range(20)))
        total = 20 + 20 * 49  # 1,000 commands
        for client in clients:
            seqs = []
            async with asyncio.timeout(60):
                while len(seqs) < total:
                    seqs.append(json.loads(await client.recv())["seq"])
            assert seqs == list(range(1, total + 1))
            await client.close()
        with psycopg.connect(database_url) as conn:
            assert_log_is_gapless(conn, total)
    finally:
        one.close()
        two.close()


@pytest.mark.timeout(240)
def test_kill_9_of_the_sequencing_process_loses_and_repeats_nothing(
    database_url: str, tmp_path: Path
) -> None:
    total = 60_000
    # Small batches, so the kill lands while batches are being numbered.
    one = serve(database_url, tmp_path, SLUICE_SEQUENCER_BATCH_SIZE="2000")
    two = serve(database_url, tmp_path, SLUICE_SEQUENCER_BATCH_SIZE="2000")
    try:
        leader, standby = leader_first(one, two)
        appending = threading.Thread(
            target=lambda: asyncio.run(bulk_append(database_url, entities=600, per_entity=100))
        )
        appending.start()
        with psycopg.connect(database_url, autocommit=True) as conn:
            deadline = time.monotonic() + 30
            while sequenced_count(conn) < 4000:
                assert time.monotonic() < deadline, "the leader never got going"
                time.sleep(0.005)
            leader.process.kill()  # SIGKILL: no cleanup, the batch in flight dies with it
            leader.process.wait(10)
            killed_at, done_at_kill = time.monotonic(), sequenced_count(conn)
            appending.join(60)
            while sequenced_count(conn) <= done_at_kill:
                assert time.monotonic() - killed_at < 10, "no standby took over"
                time.sleep(0.02)
            takeover = time.monotonic() - killed_at
            assert takeover < 5, f"the standby took {takeover:.1f}s to take over"
            assert done_at_kill < total, "the leader finished before the kill; nothing was tested"
            while sequenced_count(conn) < total:
                assert time.monotonic() - killed_at < 60, "the standby never finished the log"
                time.sleep(0.05)
            assert_log_is_gapless(conn, total)
        assert standby.process.poll() is None
    finally:
        one.close()
        two.close()


def sequenced_count(conn: psycopg.Connection) -> int:
    row = conn.execute("SELECT count(*) FROM events WHERE seq IS NOT NULL").fetchone()
    return int(row[0]) if row else 0


def leader_first(*processes: SluiceProcess) -> tuple[SluiceProcess, SluiceProcess]:
    """Ask each process (/readyz) whether its sequencer leads; exactly one must."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        roles = [
            httpx.get(f"{p.url}/readyz", timeout=5, headers=AUTH_HEADERS).json()["sequencer"]
            for p in processes
        ]
        if roles.count("leader") == 1:
            leader = processes[roles.index("leader")]
            return leader, next(p for p in processes if p is not leader)
        time.sleep(0.1)
    raise AssertionError(f"expected exactly one leader, got {roles}")
