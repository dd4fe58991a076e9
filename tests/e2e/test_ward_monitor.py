"""The ward monitor end to end: vital signs in over HTTP, NEWS2 alerts and the ward's views out.

Everything runs in-process behind the ASGI client: the sequencer, the `vitals-monitor` action,
the `ward-board` and `open-alerts` projectors and the timer worker, on a real PostgreSQL and
the real clock. Asynchronous effects are awaited by polling with a deadline, or by asking a view
for `consistent_with=<event_id>`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
import psycopg
import pytest

from app.services.ward import news2
from app.services.ward.patient import Vitals
from tests.support.ward import ADMIT, vitals

T = TypeVar("T")

WAIT_SECONDS = 10.0
ACK_MINUTES = "0.02"  # 1.2 s: the unacknowledged-alert timer, shortened for the tests
ACK_DELAY = timedelta(minutes=float(ACK_MINUTES))

# A patient getting worse, each reading scored by hand from the NEWS2 chart (RCP 2017).
LOW = vitals(pulse=95, temperature=38.5)  # pulse 1 + temperature 1 = 2
LOW_MEDIUM = vitals(consciousness="V")  # 3, a lone red score
MEDIUM = vitals(respiration_rate=22, consciousness="V")  # 2 + 3 = 5
HIGH = vitals(  # 2 + 2 + 1 + 2 + 3 + 1 = 11
    respiration_rate=24, spo2=93, systolic_bp=105, pulse=112, consciousness="V", temperature=38.4
)
LOW_WITHOUT_RED = vitals(respiration_rate=22, pulse=95, temperature=38.5)  # 2 + 1 + 1 = 4
HIGH_REASONS = ["respiration_rate", "spo2", "systolic_bp", "pulse", "consciousness", "temperature"]


# -- helpers ------------------------------------------------------------------------------------
async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """``probe()``'s first answer that is not None, polling until WAIT_SECONDS have passed."""
    deadline = time.monotonic() + WAIT_SECONDS
    while (found := await probe()) is None:
        assert time.monotonic() < deadline, f"no {what} within {WAIT_SECONDS}s"
        await asyncio.sleep(0.05)
    return found


async def command(
    client: httpx.AsyncClient, entity: str, entity_id: str, name: str, body: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(f"/entities/{entity}/{entity_id}/{name}", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def event_id_of(
    client: httpx.AsyncClient, entity: str, entity_id: str, name: str, body: dict[str, Any]
) -> str:
    """Run a command that appends one event; its event id."""
    (event,) = (await command(client, entity, entity_id, name, body))["events"]
    return str(event["event_id"])


async def admit(client: httpx.AsyncClient, patient_id: str, **changes: Any) -> str:
    return await event_id_of(client, "patient", patient_id, "admit", {**ADMIT, **changes})


async def record_vitals(client: httpx.AsyncClient, patient_id: str, reading: dict[str, Any]) -> str:
    return await event_id_of(client, "patient", patient_id, "record-vitals", reading)


async def alert_events(client: httpx.AsyncClient, patient_id: str) -> list[dict[str, Any]]:
    """The alert entity's events as CloudEvents; none (404) before its first raise."""
    response = await client.get(f"/entities/alert/{patient_id}/events")
    if response.status_code == 404:
        return []
    assert response.status_code == 200, response.text
    events: list[dict[str, Any]] = response.json()["events"]
    return events


async def alert_event(client: httpx.AsyncClient, patient_id: str, type_name: str) -> dict[str, Any]:
    """Wait for the patient's alert to have an event of ``type_name`` (e.g. AlertRaised)."""

    async def probe() -> dict[str, Any] | None:
        events = await alert_events(client, patient_id)
        return next((e for e in events if e["type"] == f"alert.{type_name}"), None)

    return await eventually(probe, f"{type_name} for {patient_id}")


async def monitor_has_passed(
    client: httpx.AsyncClient, event_id: str, entity: str = "patient", entity_id: str = "p1"
) -> None:
    """Wait until the vitals-monitor's checkpoint has passed the event: by then the commands it
    sent for that event are committed, and the monitor is idle if nothing came after."""

    async def sequenced() -> int | None:
        history = (await client.get(f"/entities/{entity}/{entity_id}/events")).json()
        return next(e["seq"] for e in history["events"] if e["id"] == event_id)

    seq = await eventually(sequenced, f"seq for event {event_id}")

    async def passed() -> bool | None:
        status = (await client.get("/consumers/vitals-monitor")).json()
        return True if status["checkpoint"] >= seq else None

    await eventually(passed, f"vitals-monitor checkpoint at seq {seq}")


async def view_row(
    client: httpx.AsyncClient, view: str, key: str, consistent_with: str
) -> httpx.Response:
    return await client.get(f"/views/{view}/{key}", params={"consistent_with": consistent_with})


def chart(reading: dict[str, Any]) -> tuple[int, str, list[str]]:
    result = news2.score(Vitals(**reading))
    return result.total, result.risk, result.reasons


def types_of(events: list[dict[str, Any]]) -> list[str]:
    return [event["type"].removeprefix("alert.") for event in events]


# -- deterioration ------------------------------------------------------------------------------
def test_the_readings_score_as_the_news2_chart_says() -> None:
    assert chart(LOW) == (2, "low", ["pulse", "temperature"])
    assert chart(LOW_WITHOUT_RED) == (4, "low", ["respiration_rate", "pulse", "temperature"])
    assert chart(LOW_MEDIUM) == (3, "low-medium", ["consciousness"])
    assert chart(MEDIUM) == (5, "medium", ["respiration_rate", "consciousness"])
    assert chart(HIGH) == (11, "high", HIGH_REASONS)


async def test_deteriorating_vitals_raise_one_alert_that_escalates_with_the_risk(
    client: httpx.AsyncClient,
) -> None:
    await admit(client, "p1")
    readings = [LOW, LOW_MEDIUM, MEDIUM, HIGH]
    vitals_ids = [await record_vitals(client, "p1", reading) for reading in readings]
    await monitor_has_passed(client, vitals_ids[-1])

    events = await alert_events(client, "p1")
    assert types_of(events) == ["AlertRaised", "AlertEscalated", "AlertEscalated"]
    assert [e["causationid"] for e in events] == vitals_ids[1:], "one command per reading"
    raised, to_medium, to_high = (e["data"] for e in events)
    assert raised == {
        "ward": "W1",
        "score": 3,
        "risk": "low-medium",
        "reasons": ["consciousness"],
        "episode": 1,
    }
    assert (to_medium["risk"], to_medium["score"], to_medium["previous_risk"]) == (
        "medium",
        5,
        "low-medium",
    )
    assert (to_high["risk"], to_high["score"], to_high["previous_risk"]) == ("high", 11, "medium")
    assert {to_medium["reason"], to_high["reason"]} == {"risk-increased"}

    last = str(events[-1]["id"])
    alerts = await client.get("/views/open-alerts", params={"consistent_with": last})
    assert alerts.status_code == 200, alerts.text
    (row,) = alerts.json()["items"]
    assert row["patient_id"] == "p1" and row["ward"] == "W1" and row["episode"] == 1
    assert (row["risk"], row["score"], row["reasons"]) == ("high", 11, HIGH_REASONS)
    assert row["escalation_reason"] == "risk-increased"

    board = (await view_row(client, "ward-board", "p1", last)).json()
    assert (board["news2_score"], board["risk"], board["reasons"]) == (11, "high", HIGH_REASONS)
    assert board["recent_scores"] == [2, 3, 5, 11]
    assert board["latest_vitals"] == HIGH
    assert board["alert_risk"] == "high" and board["alert_escalated"] is True


@pytest.mark.parametrize("reading", [vitals(), LOW_WITHOUT_RED], ids=["normal", "score-4"])
async def test_low_risk_vitals_raise_no_alert(
    client: httpx.AsyncClient, reading: dict[str, Any]
) -> None:
    await admit(client, "p1")
    event_id = await record_vitals(client, "p1", reading)
    await monitor_has_passed(client, event_id)

    assert (await client.get("/entities/alert/p1")).status_code == 404
    board = (await view_row(client, "ward-board", "p1", event_id)).json()
    assert (board["risk"], board["alert_risk"]) == ("low", None)
    alerts = await client.get("/views/open-alerts", params={"consistent_with": event_id})
    assert alerts.json()["items"] == []


# -- acknowledging and resolving ----------------------------------------------------------------
async def test_acknowledging_shows_who_and_resolving_clears_the_alert_from_the_views(
    client: httpx.AsyncClient,
) -> None:
    await admit(client, "p1")
    await record_vitals(client, "p1", LOW_MEDIUM)
    await alert_event(client, "p1", "AlertRaised")

    acked = await event_id_of(client, "alert", "p1", "acknowledge", {"clinician": "Dr Who"})
    row = (await view_row(client, "open-alerts", "p1", acked)).json()
    assert row["acknowledged_by"] == "Dr Who" and row["acknowledged_at"] is not None
    by_clinician = await client.get("/views/open-alerts", params={"acknowledged_by": "Dr Who"})
    assert [r["patient_id"] for r in by_clinician.json()["items"]] == ["p1"]
    board = (await view_row(client, "ward-board", "p1", acked)).json()
    assert (board["alert_risk"], board["alert_acknowledged_by"]) == ("low-medium", "Dr Who")

    resolved = await event_id_of(client, "alert", "p1", "resolve", {"note": "reviewed"})
    gone = await view_row(client, "open-alerts", "p1", resolved)
    assert gone.status_code == 404
    assert gone.headers["content-type"] == "application/problem+json"
    board = (await view_row(client, "ward-board", "p1", resolved)).json()
    assert (board["alert_risk"], board["alert_acknowledged_by"]) == (None, None)
    assert board["risk"] == "low-medium", "the reading itself is still on the board"


# -- the acknowledgement timer ------------------------------------------------------------------
async def test_an_unacknowledged_alert_escalates_when_its_timer_runs_out(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SLUICE_WARD_ACK_MINUTES", ACK_MINUTES)
    await admit(client, "p1")
    await record_vitals(client, "p1", LOW_MEDIUM)

    raised = await alert_event(client, "p1", "AlertRaised")
    escalated = await alert_event(client, "p1", "AlertEscalated")
    assert escalated["data"]["reason"] == "unacknowledged"
    assert (escalated["data"]["risk"], escalated["data"]["previous_risk"]) == (
        "low-medium",
        "low-medium",
    )
    waited = datetime.fromisoformat(escalated["time"]) - datetime.fromisoformat(raised["time"])
    # The delay runs from the decision, a few ms before AlertRaised's transaction began.
    assert waited >= ACK_DELAY - timedelta(milliseconds=200), f"escalated after only {waited}"

    row = (await view_row(client, "open-alerts", "p1", str(escalated["id"]))).json()
    assert row["escalation_reason"] == "unacknowledged" and row["escalated_at"] is not None
    assert row["acknowledged_by"] is None
    board = (await view_row(client, "ward-board", "p1", str(escalated["id"]))).json()
    assert board["alert_escalated"] is True


async def test_an_acknowledged_alert_does_not_escalate(
    client: httpx.AsyncClient, db: psycopg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Raised over HTTP rather than through the monitor, so the 1.2 s timer cannot run out
    # before the acknowledgement arrives.
    monkeypatch.setenv("SLUICE_WARD_ACK_MINUTES", ACK_MINUTES)
    body = {"ward": "W1", "score": 3, "risk": "low-medium", "reasons": ["consciousness"]}
    await command(client, "alert", "p1", "raise", body)
    timers = "SELECT owner, key, command FROM timers"
    assert db.execute(timers).fetchall() == [("alert/p1", "unacknowledged", "escalate")]

    await command(client, "alert", "p1", "acknowledge", {"clinician": "Dr Who"})
    assert db.execute("SELECT count(*) FROM timers").fetchone() == (0,), "timer not cancelled"

    await asyncio.sleep(ACK_DELAY.total_seconds() + 1.8)
    assert types_of(await alert_events(client, "p1")) == ["AlertRaised", "AlertAcknowledged"]


# -- discharge, redelivery, transfer ------------------------------------------------------------
async def test_discharging_a_patient_resolves_the_open_alert(client: httpx.AsyncClient) -> None:
    await admit(client, "p1")
    await record_vitals(client, "p1", LOW_MEDIUM)
    await alert_event(client, "p1", "AlertRaised")

    discharged = await event_id_of(client, "patient", "p1", "discharge", {})
    resolved = await alert_event(client, "p1", "AlertResolved")
    assert resolved["causationid"] == discharged
    assert resolved["data"]["note"] == "patient discharged"

    assert (await view_row(client, "open-alerts", "p1", str(resolved["id"]))).status_code == 404
    board = (await view_row(client, "ward-board", "p1", str(resolved["id"]))).json()
    assert (board["status"], board["alert_risk"]) == ("discharged", None)


async def test_redelivered_vitals_send_no_second_command(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await admit(client, "p1")
    vitals_id = await record_vitals(client, "p1", LOW_MEDIUM)
    await monitor_has_passed(client, vitals_id)
    # Resolved, so a second raise would open a new episode rather than change nothing.
    resolved = await event_id_of(client, "alert", "p1", "resolve", {"note": "reviewed"})
    await monitor_has_passed(client, resolved, "alert")
    before = await alert_events(client, "p1")
    assert types_of(before) == ["AlertRaised", "AlertResolved"]
    head = (await client.get("/consumers/vitals-monitor")).json()["head"]

    (rewound_at,) = db.execute(
        "UPDATE checkpoints SET position = 0 WHERE name = 'vitals-monitor' RETURNING now()"
    ).fetchone()
    db.execute("SELECT pg_notify('sluice_consumers', 'vitals-monitor')")

    async def caught_up_again() -> bool | None:
        status = (await client.get("/consumers/vitals-monitor")).json()
        moved_since = datetime.fromisoformat(status["updated_at"]) > rewound_at
        return True if moved_since and status["checkpoint"] >= head else None

    await eventually(caught_up_again, "vitals-monitor back at the head")
    assert await alert_events(client, "p1") == before
    assert (await client.get("/entities/alert/p1")).json()["state"]["open"] is False


async def test_transfer_moves_the_patient_on_the_board(client: httpx.AsyncClient) -> None:
    await admit(client, "p1", ward="W1", bed="3")
    moved = await event_id_of(client, "patient", "p1", "transfer", {"ward": "W9", "bed": "7"})

    new_ward = await client.get(
        "/views/ward-board", params={"ward": "W9", "consistent_with": moved}
    )
    assert [(r["patient_id"], r["ward"], r["bed"]) for r in new_ward.json()["items"]] == [
        ("p1", "W9", "7")
    ]
    old_ward = await client.get("/views/ward-board", params={"ward": "W1"})
    assert old_ward.json()["items"] == []


async def test_an_open_alert_follows_its_patient_to_the_new_ward(
    client: httpx.AsyncClient,
) -> None:
    await admit(client, "p1", ward="W1", bed="3")
    await record_vitals(client, "p1", LOW_MEDIUM)
    await alert_event(client, "p1", "AlertRaised")

    moved = await event_id_of(client, "patient", "p1", "transfer", {"ward": "W9", "bed": "7"})
    new_ward = await client.get(
        "/views/open-alerts", params={"ward": "W9", "consistent_with": moved}
    )
    old_ward = await client.get("/views/open-alerts", params={"ward": "W1"})
    assert [r["patient_id"] for r in old_ward.json()["items"]] == [], (
        "BUG: open-alerts does not handle PatientTransferred, so a transferred patient's open"
        " alert is still listed under the ward they left"
    )
    assert [r["patient_id"] for r in new_ward.json()["items"]] == ["p1"]
