"""Views under faults: kill -9 in the middle of a batch, and a rebuild under load."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg.rows import dict_row

from app.views.rebuild import REBUILD_LOCK_NAMESPACE
from tests.support.auth import AUTH_HEADERS
from tests.support.backlog import expected_scores, ward_backlog
from tests.support.servers import SluiceProcess, uvicorn_in_thread
from tests.support.waiting import eventually

PATIENTS, READINGS = 100, 300  # 30,100 events


def board(database_url: str) -> dict[str, dict[str, Any]]:
    with psycopg.connect(database_url, row_factory=dict_row) as conn:
        rows = conn.execute("SELECT * FROM view_ward_board ORDER BY patient_id").fetchall()
    return {row["patient_id"]: row for row in rows}


def checkpoint(database_url: str, name: str) -> tuple[int, int]:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT position, (SELECT count(*) FROM events) FROM checkpoints WHERE name = %s",
            [name],
        ).fetchone()
    return (row[0], row[1]) if row else (0, 0)


def wait_for(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


def serve(database_url: str, tmp_path: Path) -> SluiceProcess:
    process = SluiceProcess(
        {
            "DATABASE_URL": database_url,
            "SLUICE_CONSUMER_BATCH_SIZE": "500",
            "SLUICE_LEADER_RETRY_SECONDS": "0.5",
        },
        tmp_path,
    )
    process.wait_ready()
    return process


def rebuild(process: SluiceProcess) -> None:
    response = httpx.post(
        f"{process.url}/views/ward-board/rebuild", timeout=10, headers=AUTH_HEADERS
    )
    assert response.status_code == 202, response.text

    def done() -> bool:
        status = httpx.get(
            f"{process.url}/consumers/ward-board", timeout=10, headers=AUTH_HEADERS
        ).json()
        assert status["rebuild"]["state"] != "failed", status
        return bool(status["rebuild"]["state"] == "done")

    wait_for(done, 120, "the rebuild")


@pytest.mark.timeout(300)
def test_kill_9_while_projecting_leaves_rows_equal_to_a_fold_of_the_log(
    database_url: str, tmp_path: Path
) -> None:
    asyncio.run(ward_backlog(database_url, patients=PATIENTS, readings=READINGS))
    total = PATIENTS * (1 + READINGS)
    first = serve(database_url, tmp_path)
    try:
        wait_for(lambda: checkpoint(database_url, "ward-board")[0] > 0, 120, "projection")
        first.process.kill()  # SIGKILL, in the middle of the backlog
        first.process.wait(10)
    finally:
        first.close()
    stopped_at = checkpoint(database_url, "ward-board")[0]
    assert 0 < stopped_at < total, "the kill landed mid-projection"

    second = serve(database_url, tmp_path)
    try:
        wait_for(lambda: checkpoint(database_url, "ward-board")[0] == total, 120, "catch-up")
        projected = board(database_url)
        assert len(projected) == PATIENTS
        for patient in range(PATIENTS):
            row = projected[f"p{patient}"]
            assert row["recent_scores"] == expected_scores(patient, READINGS)[-20:], (
                f"p{patient}'s history"
            )
        rebuild(second)
        assert board(database_url) == projected, "the live rows equal a fresh fold of the log"
    finally:
        second.close()


@pytest.mark.timeout(180)
async def test_a_rebuild_under_load_never_fails_a_query_and_rebuilds_the_same_rows(
    app: FastAPI, database_url: str
) -> None:
    patients, readings = 200, 40
    await ward_backlog(database_url, patients=patients, readings=readings)
    with uvicorn_in_thread(app) as url:
        async with httpx.AsyncClient(headers=AUTH_HEADERS, base_url=url, timeout=30) as http:
            await wait_async(lambda: caught_up(http, patients * (1 + readings)), "catch-up")
            before = board(database_url)
            answers: list[int] = []
            stop = asyncio.Event()

            async def query() -> None:
                while not stop.is_set():
                    listed = await http.get("/views/ward-board?ward=W1&limit=1000")
                    one = await http.get("/views/ward-board/p7")
                    answers.append(listed.status_code)
                    assert listed.status_code == 200 and one.status_code == 200, listed.text
                    assert len(listed.json()["items"]) >= patients, "no row went missing"

            async def write() -> None:
                n = 0
                while not stop.is_set():
                    body = {"name": "Late", "ward": "W2", "bed": str(n)}
                    reply = await http.post(f"/entities/patient/late-{n}/admit", json=body)
                    assert reply.status_code == 200, reply.text
                    n += 1

            load = [asyncio.create_task(query()) for _ in range(4)]
            load.append(asyncio.create_task(write()))
            await eventually(lambda: len(answers) >= 8, 30, "queries under way")
            started = await http.post("/views/ward-board/rebuild")
            assert started.status_code == 202, started.text
            await wait_async(lambda: rebuild_done(http), "the rebuild")
            after_rebuild = len(answers)
            await eventually(lambda: len(answers) >= after_rebuild + 8, 30, "queries after it")
            stop.set()
            await asyncio.gather(*load)
            assert len(answers) > 20 and set(answers) == {200}
            await wait_async(lambda: settled(http), "the writes to be projected")

    after = board(database_url)
    assert {key: row for key, row in after.items() if not key.startswith("late-")} == before
    assert any(key.startswith("late-") for key in after), "writes during the rebuild landed"
    with psycopg.connect(database_url) as conn:
        indexes = conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename LIKE 'view_ward_board%%'"
        ).fetchall()
    assert sorted(name for (name,) in indexes) == [
        "view_ward_board_pkey",
        "view_ward_board_ward_idx",
    ]


async def test_a_second_rebuild_of_the_same_view_is_refused(
    client: httpx.AsyncClient, database_url: str
) -> None:
    with psycopg.connect(database_url, autocommit=True) as holder:
        holder.execute(
            "SELECT pg_advisory_lock(%s, hashtext('ward-board'))", [REBUILD_LOCK_NAMESPACE]
        )
        refused = await client.post("/views/ward-board/rebuild")
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"


async def caught_up(http: httpx.AsyncClient, total: int) -> bool:
    status = (await http.get("/consumers/ward-board")).json()
    return bool(status["checkpoint"] == total)


async def rebuild_done(http: httpx.AsyncClient) -> bool:
    status = (await http.get("/consumers/ward-board")).json()
    assert status["rebuild"]["state"] != "failed", status
    return bool(status["rebuild"]["state"] == "done")


async def settled(http: httpx.AsyncClient) -> bool:
    status = (await http.get("/consumers/ward-board")).json()
    return bool(status["checkpoint"] == status["head"])


async def wait_async(condition: Any, what: str, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@pytest.mark.timeout(180)
def test_a_standby_process_takes_over_a_view_when_its_leader_dies(
    database_url: str, tmp_path: Path
) -> None:
    one, two = serve(database_url, tmp_path), serve(database_url, tmp_path)
    try:
        admit = {"name": "Ada", "ward": "W1", "bed": "1"}
        assert (
            httpx.post(
                f"{one.url}/entities/patient/p1/admit", json=admit, headers=AUTH_HEADERS
            ).status_code
            == 200
        )
        wait_for(lambda: checkpoint(database_url, "ward-board")[0] >= 1, 30, "projection")
        leader = httpx.get(f"{one.url}/consumers/ward-board", headers=AUTH_HEADERS).json()["leader"]
        pids = {str(p.process.pid): p for p in (one, two)}
        dead = pids[leader.split(":")[1]]
        survivor = two if dead is one else one
        dead.process.kill()
        dead.process.wait(10)

        moved = {"ward": "W2", "bed": "9"}
        reply = httpx.post(
            f"{survivor.url}/entities/patient/p1/transfer", json=moved, headers=AUTH_HEADERS
        )
        assert reply.status_code == 200, reply.text
        event_id = reply.json()["events"][0]["event_id"]
        started = time.monotonic()
        row = httpx.get(
            f"{survivor.url}/views/ward-board/p1",
            params={"consistent_with": event_id},
            timeout=10,
            headers=AUTH_HEADERS,
        )
        assert row.status_code == 200, row.text
        assert row.json()["ward"] == "W2"
        assert time.monotonic() - started < 5, "the standby took over within seconds"
        status = httpx.get(f"{survivor.url}/consumers/ward-board", headers=AUTH_HEADERS).json()
        assert status["leader"].split(":")[1] == str(survivor.process.pid)
    finally:
        one.close()
        two.close()
