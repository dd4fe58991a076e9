"""The database goes away under load and comes back: clear 503s meanwhile, never a 500 or
an unbounded wait, nothing acknowledged lost, and service resumes without a restart."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from tests.support.auth import AUTH_HEADERS
from tests.support.own_database import OwnDatabase, outage_settings
from tests.support.servers import uvicorn_in_thread
from tests.support.waiting import eventually
from tests.support.ward import ADMIT

pytestmark = pytest.mark.timeout(180)


async def test_an_outage_under_load_answers_503_loses_nothing_and_recovers_by_itself(
    own_database: OwnDatabase, tmp_path: Path
) -> None:
    settings = outage_settings(tmp_path / "data")
    app = create_app(settings, database_url=own_database.url)
    answers: list[tuple[str, int, float]] = []  # (entity id, status, seconds taken)

    def ok_count() -> int:
        return sum(status == 200 for _, status, _ in answers)

    stop_load = asyncio.Event()

    async def load(http: httpx.AsyncClient, writer: int) -> None:
        n = 0
        while not stop_load.is_set():
            n += 1
            entity_id = f"w{writer}-{n}"
            started = time.monotonic()
            try:
                reply = await http.post(f"/entities/patient/{entity_id}/admit", json=ADMIT)
                status = reply.status_code
                if status >= 500:
                    assert reply.headers["content-type"] == "application/problem+json"
            except httpx.TransportError:
                status = -1
            answers.append((entity_id, status, time.monotonic() - started))
            await asyncio.sleep(0.01)

    with uvicorn_in_thread(app) as base:
        async with httpx.AsyncClient(base_url=base, headers=AUTH_HEADERS, timeout=30) as http:
            writers = [asyncio.create_task(load(http, w)) for w in range(4)]
            await eventually(lambda: ok_count() >= 40, 30, "commands acknowledged before")
            acknowledged_before = {e for e, status, _ in answers if status == 200}
            await asyncio.to_thread(own_database.stop)
            seen = len(answers)
            await eventually(  # the outage seen by the clients, a while
                lambda: sum(status == 503 for _, status, _ in answers[seen:]) >= 8, 30, "503s"
            )
            down = await http.get("/readyz")
            assert down.status_code == 503, down.text
            await asyncio.to_thread(own_database.start)
            back = time.monotonic()
            recovered_after = None
            while time.monotonic() - back < 20:
                probe = await http.post(
                    f"/entities/patient/probe-{time.monotonic()}/admit", json=ADMIT
                )
                if probe.status_code == 200:
                    recovered_after = time.monotonic() - back
                    break
                await asyncio.sleep(0.1)
            recovered_with = ok_count()
            await eventually(lambda: ok_count() >= recovered_with + 40, 30, "commands after")
            stop_load.set()
            await asyncio.gather(*writers)

            statuses = [status for _, status, _ in answers]
            assert recovered_after is not None and recovered_after < 10, recovered_after
            assert 500 not in statuses and -1 not in statuses, sorted(set(statuses))
            assert 503 in statuses, "the outage was seen"
            assert max(seconds for _, _, seconds in answers) < 10, "no request hung"
            assert (await http.get("/readyz")).status_code == 200

            acknowledged = {e for e, status, _ in answers if status == 200}
            assert acknowledged_before <= acknowledged

            async def logged() -> set[str]:
                subjects, after = set(), 0
                while True:
                    page = (await http.get(f"/events?after={after}&limit=1000")).json()
                    subjects |= {event["subject"] for event in page["events"]}
                    if not page["events"]:
                        return subjects
                    after = page["next_after"]

            deadline = time.monotonic() + 20
            while not acknowledged <= (in_log := await logged()):
                assert time.monotonic() < deadline, sorted(acknowledged - in_log)[:5]
                await asyncio.sleep(0.2)
            # the consumers resumed too: the ward board holds every acknowledged patient
            while True:
                board = (await http.get("/consumers/ward-board")).json()
                if board["lag_events"] == 0 and board["state"] in ("running", "idle"):
                    break
                assert time.monotonic() < deadline + 20, board
                await asyncio.sleep(0.2)
