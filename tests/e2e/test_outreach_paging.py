"""The sample's callout workflow, end to end on the outreach service: a requested callout
pages the roster's responders one by one, the emergency team when none accepts, and a
stand-down withdraws the page showing (the compensation). Operators see each running
callout's step and deadline in GET /workflows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from app.main import create_app
from app.services.outreach import service as outreach_service
from app.settings import Settings
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.waiting import eventually

ACCEPT_SECONDS = "0.6"


@pytest.fixture
async def outreach(
    tmp_path: Path, outreach_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("SLUICE_OUTREACH_ACCEPT_SECONDS", ACCEPT_SECONDS)
    settings = Settings(
        data_dir=tmp_path / "data",
        admin_key=ADMIN_KEY,
        # The ward is not running here: its stream is not read (callouts come over HTTP).
        upstreams={"ward": {"url": "http://127.0.0.1:9", "key": "sk_unused"}},
    )
    app = create_app(settings, service=outreach_service, database_url=outreach_database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://outreach.test", headers=AUTH_HEADERS
        ) as http:
            roster = {"responders": ["ana", "ben"], "escalate_to": "met"}
            assert (
                await http.post("/entities/roster/outreach/set", json=roster)
            ).status_code == 200
            yield http


async def request_callout(http: httpx.AsyncClient, patient: str) -> None:
    body = {"ward": "W1", "risk": "high", "score": 7, "reason": "high-risk alert raised"}
    answer = await http.post(f"/entities/callout/{patient}/request", json=body)
    assert answer.status_code == 200, answer.text


async def flow(http: httpx.AsyncClient, flow_id: str, **expected: Any) -> dict[str, Any]:
    async def matches() -> dict[str, Any] | None:
        answer = await http.get(f"/entities/callout-flow/{flow_id}")
        if answer.status_code != 200:
            return None
        state = answer.json()["state"]
        return state if all(state.get(k) == v for k, v in expected.items()) else None

    return await eventually(matches, 20, f"callout-flow/{flow_id} at {expected}")


def pages(db: str, patient: str) -> list[tuple[str, str]]:
    """Each pager's events for this patient, in the order they were logged."""
    with psycopg.connect(db) as conn:
        rows = conn.execute(
            "SELECT entity_id, type FROM events WHERE entity_type = 'pager'"
            " AND data->>'patient' = %s ORDER BY seq NULLS LAST, recorded_at",
            [patient],
        ).fetchall()
    return [(pager, kind) for pager, kind in rows]


async def test_no_one_accepts_so_each_is_passed_over_then_the_team_is_escalated_to(
    outreach: httpx.AsyncClient, outreach_database_url: str
) -> None:
    await request_callout(outreach, "p1")
    waiting = await flow(outreach, "p1.1", step="await-acceptance")
    assert waiting["state"]["showing"] == "ana" and waiting["deadline"] is not None
    listed = (await outreach.get("/workflows", params={"workflow": "callout-flow"})).json()
    assert [(w["id"], w["step"]) for w in listed["workflows"]] == [("p1.1", "await-acceptance")]

    escalated = await flow(outreach, "p1.1", step="await-arrival")
    assert escalated["state"]["showing"] == "met" and escalated["state"]["next"] == 2
    assert escalated["state"]["responder"] == "met" and escalated["state"]["escalated"]
    assert pages(outreach_database_url, "p1") == [
        ("ana", "Paged"),
        ("ana", "PageWithdrawn"),
        ("ben", "Paged"),
        ("ben", "PageWithdrawn"),
        ("met", "Paged"),
    ]
    arrived = await outreach.post("/entities/callout-flow/p1.1/arrive", json={})
    assert arrived.status_code == 200, arrived.text
    done = await flow(outreach, "p1.1", status="completed")
    assert done["step"] == "record-arrival"
    callout = (await outreach.get("/entities/callout/p1")).json()["state"]
    assert (callout["status"], callout["responder"]) == ("arrived", "met")


async def test_a_responder_accepts_then_arrives(
    outreach: httpx.AsyncClient, outreach_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_OUTREACH_ACCEPT_SECONDS", "60")  # read when the step starts
    await request_callout(outreach, "p2")
    await flow(outreach, "p2.1", step="await-acceptance")
    accepted = await outreach.post("/entities/callout-flow/p2.1/accept", json={"responder": "ana"})
    assert accepted.status_code == 200, accepted.text
    await flow(outreach, "p2.1", step="await-arrival")
    callout = (await outreach.get("/entities/callout/p2")).json()["state"]
    assert (callout["status"], callout["responder"]) == ("accepted", "ana")
    wrong = await outreach.post("/entities/callout-flow/p2.1/accept", json={"responder": "ben"})
    assert wrong.status_code == 409
    assert "await-arrival" in wrong.json()["detail"]  # the step it is in, named
    await outreach.post("/entities/callout-flow/p2.1/arrive", json={})
    await flow(outreach, "p2.1", status="completed")
    assert pages(outreach_database_url, "p2") == [("ana", "Paged")]


async def test_a_stood_down_callout_withdraws_the_page_showing(
    outreach: httpx.AsyncClient, outreach_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_OUTREACH_ACCEPT_SECONDS", "60")
    await request_callout(outreach, "p3")
    await flow(outreach, "p3.1", step="await-acceptance")
    stood = await outreach.post(
        "/entities/callout/p3/stand-down", json={"reason": "the ward resolved the alert"}
    )
    assert stood.status_code == 200, stood.text
    done = await flow(outreach, "p3.1", status="completed")
    assert done["step"] == "withdraw-page"
    assert pages(outreach_database_url, "p3") == [("ana", "Paged"), ("ana", "PageWithdrawn")]
    pager = (await outreach.get("/entities/pager/ana")).json()["state"]
    assert pager["patient"] is None  # nothing showing any more
    assert (await outreach.get("/workflows")).json()["workflows"] == []


async def test_a_callout_accepted_on_itself_stops_the_paging(
    outreach: httpx.AsyncClient, outreach_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_OUTREACH_ACCEPT_SECONDS", "60")
    await request_callout(outreach, "p4")
    await flow(outreach, "p4.1", step="await-acceptance")
    taken = await outreach.post("/entities/callout/p4/accept", json={"responder": "Dr Osei"})
    assert taken.status_code == 200, taken.text
    waiting = await flow(outreach, "p4.1", step="await-arrival")
    assert waiting["state"]["responder"] == "Dr Osei"
    arrived = await outreach.post("/entities/callout/p4/arrive", json={})
    assert arrived.status_code == 200, arrived.text
    await flow(outreach, "p4.1", status="completed")
    assert pages(outreach_database_url, "p4") == [("ana", "Paged")]  # no one else was paged
    with psycopg.connect(outreach_database_url) as conn:
        refused = conn.execute("SELECT count(*) FROM action_rejections").fetchone()
    assert refused == (0,)
