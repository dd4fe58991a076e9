"""Two services talking through events: the ward publishes alerts, outreach calls its team and
publishes callouts, the ward's board shows them. Real HTTP between two uvicorns, each service
on its own PostgreSQL database; neither reads the other's tables nor calls its commands."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.support.system import System, row_where, two_services
from tests.support.waiting import eventually
from tests.support.ward import ADMIT, DETERIORATING, vitals

PATIENT = "p-17"


async def test_a_deteriorating_patient_calls_outreach_and_its_acceptance_reaches_the_ward(
    tmp_path: Path, database_url: str, outreach_database_url: str
) -> None:
    with two_services(tmp_path, database_url, outreach_database_url) as system:
        async with system.client(system.ward) as ward, system.client(system.outreach) as outreach:
            assert (await ward.post(f"/entities/patient/{PATIENT}/admit", json=ADMIT)).is_success
            vitals_posted = await ward.post(
                f"/entities/patient/{PATIENT}/record-vitals", json=DETERIORATING
            )
            assert vitals_posted.is_success, vitals_posted.text

            callout = await row_where(outreach, f"/views/callouts/{PATIENT}", status="requested")
            assert (callout["ward"], callout["risk"], callout["score"]) == ("W1", "high", 11)
            seen = await row_where(outreach, f"/views/ward-alerts/{PATIENT}", status="open")
            assert (seen["risk"], seen["episode"]) == ("high", 1)

            accepted = await outreach.post(
                f"/entities/callout/{PATIENT}/accept", json={"responder": "Dr Osei"}
            )
            assert accepted.is_success, accepted.text
            status = await row_where(ward, f"/views/callout-status/{PATIENT}", status="accepted")
            assert status["responder"] == "Dr Osei"

            # The ward resolves the alert: outreach stands down, and the ward sees that too.
            resolved = await ward.post(f"/entities/alert/{PATIENT}/resolve", json={"note": "ok"})
            assert resolved.is_success, resolved.text
            await row_where(outreach, f"/views/callouts/{PATIENT}", status="stood-down")
            await row_where(ward, f"/views/callout-status/{PATIENT}", status="stood-down")

            await _subscriptions_caught_up(system, outreach, ward)
            await _rebuilt_from_the_producer(outreach, seen)


async def _rebuilt_from_the_producer(outreach: httpx.AsyncClient, seen: dict) -> None:
    """A view of another service's stream is rebuilt by reading that stream again from 0."""
    started = await outreach.post("/views/ward-alerts/rebuild")
    assert started.status_code == 202, started.text

    async def done() -> dict | None:
        status = (await outreach.get("/consumers/ward-alerts")).json()
        rebuild = status["rebuild"] or {}
        assert rebuild.get("state") != "failed", rebuild
        return status if rebuild.get("state") == "done" else None

    await eventually(done, 30, "ward-alerts rebuilt")
    row = (await outreach.get(f"/views/ward-alerts/{PATIENT}")).json()
    assert (row["status"], row["episode"], row["raised_at"]) == ("resolved", 1, seen["raised_at"])


async def _subscriptions_caught_up(
    system: System, outreach: httpx.AsyncClient, ward: httpx.AsyncClient
) -> None:
    for http, name, upstream in (
        (outreach, "alert-callouts", "ward/alerts"),
        (outreach, "ward-alerts", "ward/alerts"),
        (ward, "callout-status", "outreach/callouts"),
    ):

        async def probe(http: httpx.AsyncClient = http, name: str = name) -> dict | None:
            status = (await http.get(f"/consumers/{name}")).json()
            return status if status["checkpoint"] == status["head"] > 0 else None

        status = await eventually(probe, 15, f"{name} caught up")
        assert status["upstream"] == upstream
        assert status["state"] == "running" and status["lag_events"] == 0


async def test_only_public_types_leave_the_ward(
    tmp_path: Path, database_url: str, outreach_database_url: str
) -> None:
    with two_services(tmp_path, database_url, outreach_database_url) as system:
        async with system.client(system.ward) as ward:
            await ward.post(f"/entities/patient/{PATIENT}/admit", json=ADMIT)
            await ward.post(f"/entities/patient/{PATIENT}/record-vitals", json=DETERIORATING)
            await row_where(ward, f"/views/open-alerts/{PATIENT}", risk="high")
            acked = await ward.post(
                f"/entities/alert/{PATIENT}/acknowledge", json={"clinician": "Nurse Kim"}
            )
            assert acked.is_success
            await ward.post(f"/entities/patient/{PATIENT}/record-vitals", json=vitals())
            await ward.post(f"/entities/alert/{PATIENT}/resolve", json={"note": "better"})

            async def log_head() -> int | None:
                # The relay sequences after the command's reply: wait until the resolve is in.
                log = (await ward.get("/events", params={"after": 0, "limit": 1000})).json()
                types = [event["type"] for event in log["events"]]
                return log["events"][-1]["seq"] if "alert.AlertResolved" in types else None

            head = await eventually(log_head, 15, "the resolve sequenced")
            page = (await ward.get("/streams/alerts", params={"after": 0})).json()

        assert [e["type"] for e in page["events"]] == ["ward.AlertRaised", "ward.AlertResolved"]
        assert page["next_after"] == page["head"] == head  # filtered events still move it
        raised = page["events"][0]
        assert raised["subject"] == PATIENT and raised["source"].endswith("/streams/alerts")
        assert set(raised["data"]) == {"ward", "risk", "score", "episode", "reasons"}
        assert "Nurse Kim" not in str(page)  # who acknowledged stays on the ward
