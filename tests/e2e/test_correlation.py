"""One request followed across every asynchronous hop: command → event → action → alert's
events → webhook request and WebSocket message, by its correlation id or W3C traceparent."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import httpx
import pytest
import websockets

from app.main import create_app
from app.settings import Settings
from tests.support.auth import AUTH_HEADERS
from tests.support.receiver import Receiver
from tests.support.servers import uvicorn_in_thread
from tests.support.ward import ADMIT
from tests.support.webhooks import ALARMING_VITALS, eventually, webhook_settings

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
TRACEPARENT = f"00-{TRACE_ID}-00f067aa0ba902b7-01"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return webhook_settings(tmp_path, webhook_allow_private=True)


async def alert_raised_to(receiver: Receiver, patient: str) -> httpx.Headers | None:
    for request in receiver.requests:
        body = request.json()
        if body["type"] == "alert.AlertRaised" and body["subject"] == patient:
            return httpx.Headers({**request.headers, "x-body-correlation": body["correlationid"]})
    return None


async def test_the_correlation_id_of_record_vitals_reaches_the_alert_and_its_webhook(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    async with Receiver() as pager:
        hook = await client.post("/webhooks", json={"url": pager.url, "event_types": ["alert.*"]})
        assert hook.status_code == 201
        await client.post("/entities/patient/p1/admit", json=ADMIT)
        with caplog.at_level(logging.INFO, logger="sluice.requests"):
            recorded = await client.post(
                "/entities/patient/p1/record-vitals",
                json=ALARMING_VITALS,
                headers={"X-Correlation-ID": "ward-7-round-3"},
            )
        assert recorded.headers["x-correlation-id"] == "ward-7-round-3"
        assert recorded.headers["x-request-id"]
        fields = [getattr(r, "fields", {}) for r in caplog.records]
        logged = [f["correlation_id"] for f in fields if f.get("correlation_id")]
        assert logged == ["ward-7-round-3"]

        headers = await eventually(lambda: alert_raised_to(pager, "p1"), 20, "the page")
        assert headers["x-correlation-id"] == "ward-7-round-3"
        assert headers["x-body-correlation"] == "ward-7-round-3"
        alert_events = (await client.get("/entities/alert/p1/events")).json()["events"]
        assert [e["correlationid"] for e in alert_events] == ["ward-7-round-3"]
        vitals_event = recorded.json()["events"][0]["event_id"]
        assert alert_events[0]["causationid"] == vitals_event


async def test_a_traceparent_is_kept_and_carried_to_webhooks_and_websockets(
    settings: Settings, database_url: str
) -> None:
    app = create_app(settings, database_url=database_url)
    async with Receiver() as pager:
        with uvicorn_in_thread(app) as base:
            async with httpx.AsyncClient(base_url=base, headers=AUTH_HEADERS) as http:
                await http.post("/webhooks", json={"url": pager.url, "event_types": ["alert.*"]})
                await http.post("/entities/patient/p2/admit", json=ADMIT)
                head = (await http.get("/events?after=0")).json()["head"]
                ws = (
                    base.replace("http://", "ws://")
                    + f"/ws/events?after={head}&type=alert.AlertRaised"
                )
                async with websockets.connect(ws, additional_headers=AUTH_HEADERS) as live:
                    recorded = await http.post(
                        "/entities/patient/p2/record-vitals",
                        json=ALARMING_VITALS,
                        headers={"traceparent": TRACEPARENT},
                    )
                    assert recorded.headers["x-correlation-id"] == TRACE_ID
                    message = json.loads(await live.recv())
                assert message["traceparent"] == TRACEPARENT
                assert message["correlationid"] == TRACE_ID
                headers = await eventually(lambda: alert_raised_to(pager, "p2"), 20, "the page")
                assert headers["traceparent"] == TRACEPARENT
                assert headers["x-correlation-id"] == TRACE_ID
                # a malformed traceparent is ignored, as W3C asks, not refused
                odd = await http.post(
                    "/entities/patient/p2/record-vitals",
                    json=ALARMING_VITALS,
                    headers={"traceparent": "00-zz-not-a-trace"},
                )
                assert odd.status_code == 200 and odd.headers["x-correlation-id"] != TRACE_ID
