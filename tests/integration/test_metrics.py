"""GET /metrics: what the counters and readings say after real traffic (real PostgreSQL, and a
real socket for WebSocket clients and webhook receivers)."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import websockets
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from websockets.exceptions import ConnectionClosed

from app.main import create_app
from app.settings import Settings
from tests.support.auth import AUTH_HEADERS
from tests.support.consumers import caught_up, status
from tests.support.receiver import fail_first
from tests.support.relay import bulk_append, sequenced
from tests.support.servers import uvicorn_in_thread
from tests.support.sockets import small_buffer_socket, ws_url
from tests.support.ward import ADMIT, vitals
from tests.support.webhooks import (
    WebhookReceiver,
    admit,
    deliveries,
    eventually,
    subscribe,
    webhook_settings,
)

WARD_BOARD = "ward-board"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return webhook_settings(
        tmp_path, webhook_timeout_seconds=0.5, webhook_retry_schedule="0.1,0.1,0.1"
    )


@dataclass
class Scrape:
    samples: list[Sample]

    def value(self, name: str, **labels: str) -> float:
        """The one sample called ``name`` whose labels include ``labels``."""
        found = [
            sample.value
            for sample in self.samples
            if sample.name == name and labels.items() <= sample.labels.items()
        ]
        assert len(found) == 1, f"{name} {labels}: {len(found)} samples"
        return found[0]

    def names(self) -> set[str]:
        return {sample.name for sample in self.samples}


async def scrape(http: httpx.AsyncClient) -> Scrape:
    response = await http.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    families = text_string_to_metric_families(response.text)
    return Scrape([sample for family in families for sample in family.samples])


async def reads(http: httpx.AsyncClient, name: str, expected: float) -> bool:
    """Whether /metrics says so now (for ``eventually``)."""
    return (await scrape(http)).value(name) == expected


def command_count(metrics: Scrape, command: str, outcome: str) -> float:
    return metrics.value(
        "sluice_commands_total", entity_type="patient", command=command, outcome=outcome
    )


async def test_commands_are_counted_by_outcome_and_timed(client: httpx.AsyncClient) -> None:
    for patient in ("p1", "p2", "p3"):
        assert (await client.post(f"/entities/patient/{patient}/admit", json=ADMIT)).is_success
    again = await client.post("/entities/patient/p1/admit", json=ADMIT)
    keyed = {"Idempotency-Key": "k-4"}
    first = await client.post("/entities/patient/p4/admit", json=ADMIT, headers=keyed)
    replay = await client.post("/entities/patient/p4/admit", json=ADMIT, headers=keyed)
    stale = await client.post(
        "/entities/patient/p1/record-vitals", json=vitals(), headers={"If-Match": '"7"'}
    )
    invalid = await client.post("/entities/patient/p5/admit", json={"ward": "W1"})
    not_json = await client.post(
        "/entities/patient/p5/admit", content=b"x", headers={"Content-Type": "text/plain"}
    )
    assert (again.status_code, first.status_code, replay.status_code) == (409, 200, 200)
    assert replay.headers["idempotent-replayed"] == "true"
    assert (stale.status_code, invalid.status_code, not_json.status_code) == (409, 422, 415)

    metrics = await scrape(client)
    assert command_count(metrics, "admit", "accepted") == 4
    assert command_count(metrics, "admit", "rejected") == 1
    assert command_count(metrics, "admit", "replayed") == 1
    assert command_count(metrics, "admit", "invalid") == 2
    assert command_count(metrics, "record-vitals", "conflict") == 1
    assert command_count(metrics, "discharge", "accepted") == 0, "every series exists up front"
    timed = dict(entity_type="patient", command="admit")
    assert metrics.value("sluice_command_duration_seconds_count", **timed) == 6, "not invalid"
    assert 0 < metrics.value("sluice_command_duration_seconds_sum", **timed) < 30
    everything = metrics.value("sluice_command_duration_seconds_bucket", le="+Inf", **timed)
    assert everything == 6
    # Each accepted admit was written once, through group commit; nothing else was.
    assert metrics.value("sluice_append_batch_size_sum") == 4
    assert 1 <= metrics.value("sluice_append_batch_size_count") <= 4


async def test_the_sequencer_batches_and_backlog_are_reported(
    client: httpx.AsyncClient, database_url: str
) -> None:
    for patient in range(5):
        await admit(client, f"p{patient}")
    await sequenced(database_url, 5)

    metrics = await scrape(client)
    assert metrics.value("sluice_sequencer_batch_size_sum") == 5
    assert metrics.value("sluice_sequencer_batch_size_count") >= 1
    assert metrics.value("sluice_outbox_backlog_events") == 0
    assert metrics.value("sluice_sequencer_lag_seconds") == 0
    assert metrics.value("sluice_metrics_database_up") == 1


async def test_consumer_lag_is_reported_per_consumer_and_drops_to_zero_after_catch_up(
    client: httpx.AsyncClient, database_url: str
) -> None:
    paused = await client.post(f"/consumers/{WARD_BOARD}/pause")
    assert paused.status_code == 200, paused.text
    for patient in ("p1", "p2", "p3"):
        await admit(client, patient)
    await sequenced(database_url, 3)
    await caught_up(client, "open-alerts")

    behind = await scrape(client)
    lag = behind.value("sluice_consumer_lag_events", consumer=WARD_BOARD, kind="view")
    assert lag == 3 == (await status(client, WARD_BOARD))["lag_events"]
    assert behind.value("sluice_consumer_lag_seconds", consumer=WARD_BOARD) > 0
    assert behind.value("sluice_consumer_lag_events", consumer="open-alerts") == 0

    assert (await client.post(f"/consumers/{WARD_BOARD}/resume")).status_code == 200
    listed = (await client.get("/consumers")).json()
    # Those of the ward's log (callout-status reads outreach's stream, not there in this test).
    consumers = [row["name"] for row in listed if row["upstream"] is None]
    for name in consumers:
        await caught_up(client, name)
    after = await scrape(client)
    assert len(consumers) >= 4, "two views, the vitals monitor and the webhook dispatcher"
    for name in consumers:
        assert after.value("sluice_consumer_lag_events", consumer=name) == 0
        assert after.value("sluice_consumer_lag_seconds", consumer=name) == 0


async def test_the_pool_is_reported(client: httpx.AsyncClient, settings: Settings) -> None:
    metrics = await scrape(client)
    idle = metrics.value("sluice_db_pool_connections", state="idle")
    in_use = metrics.value("sluice_db_pool_connections", state="in_use")
    assert idle + in_use == settings.database.pool_min_size == 16  # min = max in these settings
    assert metrics.value("sluice_db_pool_max_connections") == settings.database.pool_max_size
    assert metrics.value("sluice_db_pool_waiting_requests") == 0
    assert metrics.value("sluice_db_pool_requests_total") > 0
    assert "process_cpu_seconds_total" in metrics.names()


async def test_webhook_attempts_are_counted_by_outcome(client: httpx.AsyncClient) -> None:
    plan = fail_first(3, [500, "hang", "reset"])
    async with WebhookReceiver(plan=plan) as receiver:
        created = await subscribe(client, receiver.url, event_types=["patient.PatientAdmitted"])
        await admit(client, "p1")

        async def delivered() -> bool:
            found = await deliveries(client, created["id"])
            return bool(found) and found[0]["status"] == "succeeded"

        await eventually(delivered, 15, "the delivery to succeed on its fourth attempt")
    metrics = await scrape(client)
    attempts = {
        outcome: metrics.value("sluice_webhook_attempts_total", outcome=outcome)
        for outcome in ("http_5xx", "timeout", "connection_error", "success", "http_4xx")
    }
    assert attempts == {
        "http_5xx": 1,
        "timeout": 1,
        "connection_error": 1,
        "success": 1,
        "http_4xx": 0,
    }


async def test_websocket_clients_are_counted_while_connected(
    settings: Settings, database_url: str
) -> None:
    with uvicorn_in_thread(create_app(settings, database_url=database_url)) as base:
        async with httpx.AsyncClient(base_url=base, headers=AUTH_HEADERS) as http:
            assert await reads(http, "sluice_websocket_clients", 0)
            async with websockets.connect(ws_url(base), additional_headers=AUTH_HEADERS):
                await eventually(
                    lambda: reads(http, "sluice_websocket_clients", 1), 10, "one client", 0.1
                )
            await eventually(
                lambda: reads(http, "sluice_websocket_clients", 0), 10, "no client", 0.1
            )
            assert await reads(http, "sluice_websocket_dropped_slow_total", 0)


@pytest.mark.timeout(120)
async def test_a_slow_websocket_client_closed_is_counted(
    settings: Settings, database_url: str
) -> None:
    total = 20_000  # as in tests/e2e/test_websocket.py: more than the socket buffers can hide
    tight = settings.but(ws_queue_size=50, ws_slow_after_seconds=0.5)
    with uvicorn_in_thread(create_app(tight, database_url=database_url)) as base:
        await bulk_append(database_url, entities=200, per_entity=100)
        await sequenced(database_url, total)
        async with httpx.AsyncClient(base_url=base, headers=AUTH_HEADERS) as http:
            ws = await websockets.connect(
                ws_url(base, "after=0"),
                additional_headers=AUTH_HEADERS,
                max_queue=4,
                compression=None,  # repetitive events compress ~20x and would fit in buffers
                sock=small_buffer_socket(base),
            )
            # It reads nothing until the server has given up on it: counted before the close
            # frame can even be sent (it waits behind everything buffered for this client).
            await eventually(
                lambda: reads(http, "sluice_websocket_dropped_slow_total", 1),
                60,
                "the slow client to be closed",
                0.2,
            )
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    await asyncio.wait_for(ws.recv(), 10)
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 4008
            assert json.loads(closed.value.rcvd.reason)["error"] == "slow-consumer"
            await eventually(
                lambda: reads(http, "sluice_websocket_clients", 0), 10, "no client", 0.1
            )
            assert await reads(http, "sluice_websocket_dropped_slow_total", 1)
