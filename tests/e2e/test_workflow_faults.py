"""Workflows under faults and load: kill -9 of the process in the middle of steps, the
database restarting while steps wait on their timers, and 500 workflows at once with random
responder timeouts. Every workflow ends exactly once, and every command a step sends acts
exactly once: its counter's bumps are exactly the accepted calls of its history."""

from __future__ import annotations

import asyncio
import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from app.db.migrate import upgrade
from app.main import create_app
from app.settings import Settings
from app.views.schema import migrations_branch
from tests.support import flows
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.own_database import OwnDatabase, outage_settings, server_home
from tests.support.servers import SluiceProcess, uvicorn_in_thread
from tests.support.waiting import eventually

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(240)


def histories(db: str) -> dict[str, list[tuple[str, dict[str, Any]]]]:
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT entity_id, type, data FROM events WHERE entity_type = 'bumper'"
            " ORDER BY entity_id, version"
        ).fetchall()
    found: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for workflow_id, kind, data in rows:
        found.setdefault(workflow_id, []).append((kind, data))
    return found


def bumps(db: str) -> dict[str, list[int]]:
    """Each counter's bumps, in order: the commands the workflows' steps acted with."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT entity_id, (data->>'by')::int FROM events WHERE entity_type = 'counter'"
            " ORDER BY entity_id, version"
        ).fetchall()
    found: dict[str, list[int]] = {}
    for counter, amount in rows:
        found.setdefault(counter, []).append(amount)
    return found


AMOUNTS = {"fallback": 100, "last-bump": 1000}


def check_each_ended_once_and_acted_once(db: str, expected: dict[str, str]) -> None:
    """``expected``: workflow id -> its counter. Each workflow's history ends in one Ended;
    its counter's bumps are exactly the calls its history says were accepted."""
    found, counted = histories(db), bumps(db)
    assert sorted(found) == sorted(expected)
    for workflow_id, history in found.items():
        kinds = [kind for kind, _ in history]
        assert kinds.count("Ended") == 1 and kinds[-1] == "Ended", (workflow_id, kinds)
        by = history[0][1]["state"]["by"]
        accepted = [
            AMOUNTS.get(data["step"], by)
            for kind, data in history
            if kind == "StepCalled" and data["accepted"]
        ]
        assert counted.get(expected[workflow_id], []) == accepted, (workflow_id, history)


def serve(db: str, tmp_path: Path, port: int | None = None) -> SluiceProcess:
    process = SluiceProcess(
        {
            "DATABASE_URL": db,
            "SLUICE_SERVICE": "tests.support.flows:service",
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "SLUICE_LEADER_RETRY_SECONDS": "0.5",
            "SLUICE_CONSUMER_BACKOFF_MAX_SECONDS": "1",
        },
        tmp_path,
        port,
    )
    process.wait_ready()
    return process


@pytest.fixture
def flows_database() -> Iterator[OwnDatabase]:
    with server_home("workflows") as home:
        database = OwnDatabase(home / "pg", name="flows")
        try:
            upgrade(database.url, migrations_branch(flows.service))
            yield database
        finally:
            database.server.cleanup()


async def start_all(base: str, plans: dict[str, dict[str, Any]]) -> None:
    timeout = httpx.Timeout(30.0, pool=None)  # the starts queue for the connections
    limits = httpx.Limits(max_connections=50, keepalive_expiry=1.0)
    async with httpx.AsyncClient(
        base_url=base, headers=AUTH_HEADERS, limits=limits, timeout=timeout
    ) as http:

        async def one(workflow_id: str, body: dict[str, Any]) -> None:
            for _ in range(50):  # the process may be killed under us: try until it answers
                try:
                    answer = await http.post(f"/entities/bumper/{workflow_id}/start", json=body)
                except httpx.TransportError:
                    await asyncio.sleep(0.1)
                    continue
                if answer.status_code in (200, 409):  # 409: a retry of one that had landed
                    return
                await asyncio.sleep(0.1)
            raise AssertionError(f"{workflow_id} never started")

        await asyncio.gather(*(one(workflow_id, body) for workflow_id, body in plans.items()))


def open_workflows(base: str) -> int:
    answer = httpx.get(f"{base}/workflows", headers=AUTH_HEADERS, params={"limit": 1000})
    return len(answer.json()["workflows"])


def test_kill_9_in_the_middle_of_steps_resumes_every_workflow_and_acts_once(
    flows_database: OwnDatabase, tmp_path: Path
) -> None:
    db = flows_database.url
    rng = random.Random(7)
    plans = {
        f"k{n}": {"target": f"kc{n}", "by": rng.choice([1, 2, -1]), "ack_within": 0.5}
        for n in range(80)
    }
    process = serve(db, tmp_path)
    starting = asyncio.new_event_loop()
    try:
        # Killed while the starts arrive and the runner sends their first calls.
        task = starting.create_task(start_all(process.url, plans))
        starting.run_until_complete(asyncio.sleep(0.4))
        process.close()  # kill -9
        process = serve(db, tmp_path, process.port)
        starting.run_until_complete(task)  # the rest land on the new process
        starting.run_until_complete(asyncio.sleep(0.3))
        process.close()  # again, mid-steps: backoffs and await-ack timers are pending
        process = serve(db, tmp_path, process.port)

        def all_ended() -> bool:
            return open_workflows(process.url) == 0

        asyncio.run(eventually(all_ended, 90, "every workflow to end"))
    finally:
        starting.close()
        process.close()
    check_each_ended_once_and_acted_once(db, {k: plan["target"] for k, plan in plans.items()})
    # No one acked: every workflow timed out of await-ack into its last bump.
    for workflow_id, history in histories(db).items():
        assert history[-1][1]["reason"] == "no ack came", (workflow_id, history)


async def test_a_database_restart_while_steps_wait_on_timers_loses_no_timeout(
    flows_database: OwnDatabase, tmp_path: Path
) -> None:
    settings = outage_settings(tmp_path / "data")
    app = create_app(settings, service=flows.service, database_url=flows_database.url)
    with uvicorn_in_thread(app) as base:
        async with httpx.AsyncClient(base_url=base, headers=AUTH_HEADERS) as http:
            for n in range(5):
                body = {"target": f"oc{n}", "ack_within": 1.0}
                assert (await http.post(f"/entities/bumper/o{n}/start", json=body)).is_success

            async def all_waiting() -> bool:
                states = [await http.get(f"/entities/bumper/o{n}") for n in range(5)]
                return all(s.json()["state"]["step"] == "await-ack" for s in states)

            await eventually(all_waiting, 20, "every workflow waiting for its ack")
            flows_database.stop()  # every deadline passes while the database is down
            await asyncio.sleep(2.5)
            flows_database.start()

            async def all_ended() -> bool:
                answer = await http.get("/workflows")
                return answer.status_code == 200 and answer.json()["workflows"] == []

            await eventually(all_ended, 60, "every workflow to time out and end")
    check_each_ended_once_and_acted_once(flows_database.url, {f"o{n}": f"oc{n}" for n in range(5)})
    for history in histories(flows_database.url).values():
        assert [kind for kind, _ in history][-5:] == [
            "StepFailed",  # await-ack timed out, after the outage
            "StepStarted",
            "StepStarted",
            "StepCalled",
            "Ended",
        ]


async def test_500_workflows_with_random_responder_timeouts_each_end_once(
    flows_database: OwnDatabase, tmp_path: Path
) -> None:
    """Each waits for an ack within a random time; the test acks each after another random
    time. Whichever comes first decides its end, and its counter shows exactly that."""
    rng = random.Random(500)
    plans = {
        f"r{n}": {
            "target": f"rc{n}",
            "by": rng.choice([1, 2, 3, -1]),
            "ack_within": round(rng.uniform(0.5, 4.0), 2),
        }
        for n in range(500)
    }
    ack_after = {workflow_id: rng.uniform(0.0, 3.0) for workflow_id in plans}
    settings = Settings(
        admin_key=ADMIN_KEY, data_dir=tmp_path / "data", consumer_backoff_max_seconds=1
    )
    app = create_app(settings, service=flows.service, database_url=flows_database.url)
    acks: dict[str, int] = {}
    with uvicorn_in_thread(app) as base:
        await start_all(base, plans)
        # Idle connections are let go before the server's keep-alive timeout (5 s) closes
        # them: one reused just as the server closed it fails the request (a ReadError).
        limits = httpx.Limits(max_connections=50, keepalive_expiry=1.0)
        timeout = httpx.Timeout(30.0, pool=None)  # 500 acks share 50 connections: they queue
        async with httpx.AsyncClient(
            base_url=base, headers=AUTH_HEADERS, limits=limits, timeout=timeout
        ) as http:
            waiting = {workflow_id: asyncio.Event() for workflow_id in plans}

            async def watch() -> None:
                """One reader of GET /workflows tells each responder when its wait began."""
                while not all(event.is_set() for event in waiting.values()):
                    try:
                        listed = await http.get("/workflows", params={"limit": 1000})
                    except httpx.TransportError:
                        continue  # a read only: ask again
                    running = {w["id"]: w["step"] for w in listed.json()["workflows"]}
                    for workflow_id, event in waiting.items():
                        if running.get(workflow_id, "await-ack") == "await-ack":
                            event.set()  # waiting for its ack, or ended already
                    await asyncio.sleep(0.1)

            async def ack(workflow_id: str) -> None:
                """The responder answers ack_after seconds after the wait began."""
                await waiting[workflow_id].wait()
                await asyncio.sleep(ack_after[workflow_id])
                # Sent again after a broken connection under the same key: the stored answer
                # comes back, so an ack never counts twice (or as refused by its own twin).
                key = {"Idempotency-Key": f"ack-{workflow_id}"}
                for attempt in range(5):
                    try:
                        answer = await http.post(
                            f"/entities/bumper/{workflow_id}/ack", json={}, headers=key
                        )
                        break
                    except httpx.TransportError:
                        if attempt == 4:
                            raise
                acks[workflow_id] = answer.status_code

            async with asyncio.TaskGroup() as group:  # one failing cancels the rest
                group.create_task(watch())
                for workflow_id in plans:
                    group.create_task(ack(workflow_id))

            async def all_ended() -> bool:
                try:
                    answer = await http.get("/workflows", params={"limit": 1000})
                except httpx.TransportError:
                    return False
                return answer.json()["workflows"] == []

            await eventually(all_ended, 120, "all 500 workflows to end")
    check_each_ended_once_and_acted_once(
        flows_database.url, {k: plan["target"] for k, plan in plans.items()}
    )
    found = histories(flows_database.url)
    for workflow_id, status in acks.items():
        reason = found[workflow_id][-1][1]["reason"]
        # An accepted ack ended it; a refused one came after the timeout, whose last bump
        # ended it.
        assert status in (200, 409), status
        assert reason == ("acked" if status == 200 else "no ack came"), (workflow_id, status)
    acked = sum(status == 200 for status in acks.values())
    assert 0 < acked < len(plans), acked  # both outcomes occur
