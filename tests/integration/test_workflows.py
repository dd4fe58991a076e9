"""Workflows on the real command path: started over HTTP, call steps run by the runner, waits
ended by commands, timeouts and backoffs by timers, and operated by GET/POST /workflows."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg
import pytest

from app.sdk import Service
from tests.support import flows
from tests.support.waiting import eventually


@pytest.fixture
def service() -> Service:
    return flows.service


async def progress(client: httpx.AsyncClient, workflow_id: str) -> dict[str, Any]:
    answer = await client.get(f"/entities/bumper/{workflow_id}")
    assert answer.status_code == 200, answer.text
    return answer.json()["state"]


async def at(client: httpx.AsyncClient, workflow_id: str, **expected: Any) -> dict[str, Any]:
    async def matches() -> dict[str, Any] | None:
        found = await progress(client, workflow_id)
        return found if all(found.get(k) == v for k, v in expected.items()) else None

    return await eventually(matches, 15, f"bumper/{workflow_id} at {expected}")


async def counter(client: httpx.AsyncClient, counter_id: str) -> int:
    answer = await client.get(f"/entities/counter/{counter_id}")
    return answer.json()["state"]["n"] if answer.status_code == 200 else 0


def history(db: psycopg.Connection, workflow_id: str) -> list[str]:
    rows = db.execute(
        "SELECT type, data FROM events WHERE entity_type = 'bumper' AND entity_id = %s"
        " ORDER BY version",
        [workflow_id],
    ).fetchall()
    return [
        f"{kind}:{data['status'] if kind == 'Ended' else data.get('step')}" for kind, data in rows
    ]


async def test_a_call_step_sends_once_then_a_command_ends_the_wait(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    started = await client.post("/entities/bumper/w1/start", json={"target": "c1", "by": 5})
    assert started.status_code == 200, started.text
    state = await at(client, "w1", step="await-ack", status="running")
    assert state["deadline"] is not None
    assert await counter(client, "c1") == 5
    acked = await client.post("/entities/bumper/w1/ack", json={})
    assert acked.status_code == 200, acked.text
    done = await at(client, "w1", status="completed")
    assert done["state"]["acks"] == 1 and done["deadline"] is None
    assert history(db, "w1") == [
        "StepStarted:bump",
        "StepCalled:bump",
        "StepStarted:await-ack",
        "Ended:completed",
    ]
    # The counter's bump carries the step's key: sent once.
    keys = db.execute("SELECT key FROM command_log WHERE scope = 'workflow'").fetchall()
    assert keys == [("workflow:bumper:w1:bump:1",)]


async def test_a_command_in_the_wrong_step_is_409_naming_the_step(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await client.post("/entities/bumper/w2/start", json={"target": "c2"})
    await at(client, "w2", step="await-ack")
    again = await client.post("/entities/bumper/w2/start", json={"target": "c2"})
    assert again.status_code == 409
    assert "already running" in again.json()["detail"]
    before = db.execute("SELECT count(*) FROM events").fetchone()
    await client.post("/entities/bumper/w2/ack", json={})
    late = await client.post("/entities/bumper/w2/ack", json={})
    assert late.status_code == 409
    assert "completed" in late.json()["detail"] and "await-ack" in late.json()["detail"]
    never = await client.post("/entities/bumper/nobody/ack", json={})
    assert never.status_code == 409 and "has not started" in never.json()["detail"]
    after = db.execute("SELECT count(*) FROM events").fetchone()
    assert before is not None and after is not None and after[0] == before[0] + 1  # the ack


async def test_internal_commands_have_no_route(client: httpx.AsyncClient) -> None:
    await client.post("/entities/bumper/w3/start", json={"target": "c3"})
    await at(client, "w3", step="await-ack")
    for command in ("step-result", "step-timeout", "retry-step", "pause", "cancel"):
        answer = await client.post(f"/entities/bumper/w3/{command}", json={})
        assert answer.status_code == 404, (command, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert "/entities/bumper/{entity_id}/start" in paths
    assert not [p for p in paths if p.endswith(("/step-result", "/retry-step"))]


async def test_a_refused_call_is_retried_then_fails_over(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await client.post("/entities/bumper/w4/start", json={"target": "c4", "by": -1})

    async def shown_retrying() -> dict[str, Any] | None:
        listed = (await client.get("/workflows")).json()["workflows"]
        return next((w for w in listed if w["id"] == "w4" and w["retrying"]), None)

    retrying = await eventually(shown_retrying, 10, "w4 listed as waiting to try again")
    assert retrying["step"] == "bump" and retrying["attempt"] == 1
    assert retrying["error"] == "the counter only goes up" and retrying["deadline"]
    state = await at(client, "w4", step="await-ack")
    assert await counter(client, "c4") == 100  # the fallback's bump
    assert history(db, "w4") == [
        "StepStarted:bump",
        "StepCalled:bump",
        "StepFailed:bump",
        "StepStarted:bump",  # attempt 2, after the backoff
        "StepCalled:bump",
        "StepFailed:bump",
        "StepStarted:fallback",
        "StepCalled:fallback",
        "StepStarted:await-ack",
    ]
    failed = db.execute(
        "SELECT data FROM events WHERE entity_id = 'w4' AND type = 'StepFailed' ORDER BY version"
    ).fetchall()
    assert failed[0][0]["retry_at"] is not None and failed[1][0]["retry_at"] is None
    assert "only goes up" in failed[1][0]["error"]
    assert state["error"] is None  # a new step: the old failure is history


async def test_a_wait_times_out_into_its_failover_and_a_sleep_moves_on(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await client.post("/entities/bumper/w5/start", json={"target": "c5", "by": 1})
    await at(client, "w5", status="completed")
    assert await counter(client, "c5") == 1001
    failed = db.execute("SELECT data FROM events WHERE entity_id = 'w5' AND type = 'StepFailed'")
    assert "timed out after 0:00:02" in failed.fetchone()[0]["error"]  # type: ignore[index]
    assert history(db, "w5") == [
        "StepStarted:bump",
        "StepCalled:bump",
        "StepStarted:await-ack",
        "StepFailed:await-ack",
        "StepStarted:cool-off",
        "StepStarted:last-bump",
        "StepCalled:last-bump",
        "Ended:completed",
    ]


async def test_stay_changes_the_state_and_keeps_the_step(client: httpx.AsyncClient) -> None:
    await client.post("/entities/bumper/w6/start", json={"target": "c6"})
    before = await at(client, "w6", step="await-ack")
    remarked = await client.post("/entities/bumper/w6/remark", json={"text": "hello"})
    assert remarked.status_code == 200
    after = await progress(client, "w6")
    assert after["state"]["notes"] == ["hello"]
    assert (after["step"], after["deadline"]) == (before["step"], before["deadline"])
    failed = await client.post("/entities/bumper/w6/abandon", json={"reason": "no need"})
    assert failed.json()["reply"] == {"abandoned": True}
    ended = await at(client, "w6", status="failed")
    assert ended["error"] == "no need"


async def test_operators_list_pause_resume_and_cancel(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    for n in range(3):
        await client.post(f"/entities/bumper/op{n}/start", json={"target": f"k{n}"})
    for n in range(3):
        await at(client, f"op{n}", step="await-ack")
    listed = (await client.get("/workflows")).json()
    assert [(w["workflow"], w["id"], w["step"]) for w in listed["workflows"]] == [
        ("bumper", f"op{n}", "await-ack") for n in range(3)
    ]
    assert all(w["deadline"] for w in listed["workflows"])
    page = (await client.get("/workflows", params={"limit": 2})).json()
    rest = (await client.get("/workflows", params={"after": page["next_after"]})).json()
    assert [w["id"] for w in page["workflows"] + rest["workflows"]] == ["op0", "op1", "op2"]

    paused = await client.post("/workflows/bumper/op0/pause", json={"reason": "checking"})
    assert paused.status_code == 200 and paused.json()["status"] == "paused"
    assert paused.json()["paused_reason"] == "checking"
    refused = await client.post("/entities/bumper/op0/ack", json={})
    assert refused.status_code == 409 and "paused" in refused.json()["detail"]
    scraped = (await client.get("/metrics")).text
    assert 'sluice_workflows_open{status="running",workflow="bumper"} 2.0' in scraped
    assert 'sluice_workflows_open{status="paused",workflow="bumper"} 1.0' in scraped
    resumed = await client.post("/workflows/bumper/op0/resume")
    assert resumed.json()["status"] == "running" and resumed.json()["step"] == "await-ack"
    twice = await client.post("/workflows/bumper/op0/resume")
    assert twice.status_code == 409

    cancelled = await client.post("/workflows/bumper/op1/cancel", json={"reason": "duplicate"})
    assert cancelled.json()["status"] == "cancelled"
    running = (await client.get("/workflows")).json()["workflows"]
    assert [w["id"] for w in running] == ["op0", "op2"]
    ended = (await client.get("/workflows", params={"status": "cancelled"})).json()
    assert [w["id"] for w in ended["workflows"]] == ["op1"]
    # A cancelled workflow's timer is gone: nothing fires for it.
    timers = db.execute("SELECT count(*) FROM timers WHERE entity_id = 'op1'").fetchone()
    assert timers == (0,)

    unknown = await client.post("/workflows/nope/op0/pause")
    assert unknown.status_code == 404 and "bumper" in unknown.json()["detail"]
    missing = await client.post("/workflows/bumper/ghost/pause")
    assert missing.status_code == 404
