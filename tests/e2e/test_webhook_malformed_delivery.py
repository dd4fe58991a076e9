"""Whatever a receiver answers, each attempt is recorded and the delivery ends: malformed
answers from a raw socket, a Retry-After that is no number, a body PostgreSQL cannot store, a
URL path outside latin-1, and uvicorn's 204 without Content-Length, delivered by the pump
end to end. Before, each of these escaped the sender: the pump only logged it, the lease ran
out and the same delivery went out again, forever, with no attempt recorded."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.observe.metrics import WEBHOOK_OUTCOMES
from app.settings import Settings
from tests.support.real_receivers import uvicorn_receiver
from tests.support.receiver import Received
from tests.support.webhooks import (
    WebhookReceiver,
    admit,
    deliveries,
    eventually,
    record_vitals,
    subscribe,
    webhook,
    webhook_settings,
)

SCHEDULE = "0.1,0.1"  # three attempts, then failed
CHUNKED = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
MALFORMED = {
    "negative-chunk-size": CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n",
    "70-KB-chunk-size-line": CHUNKED + b"f" * 70_000 + b"\r\n",
    "12-digit-status": b"HTTP/1.1 200000000000 OK\r\ncontent-length: 0\r\n\r\n",
    "superscript-digit-in-status": b"HTTP/1.1 2\xc2\xb20 OK\r\ncontent-length: 0\r\n\r\n",
}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return webhook_settings(tmp_path, webhook_retry_schedule=SCHEDULE)


async def finished(http: httpx.AsyncClient, webhook_id: str, count: int = 1) -> list[Any]:
    """The subscription's ``count`` deliveries, oldest first, once none is pending."""

    async def done() -> list[Any] | None:
        found = await deliveries(http, webhook_id)
        if len(found) == count and all(d["status"] != "pending" for d in found):
            return found[::-1]
        return None

    # Without an end, a delivery is re-sent only when its lease runs out (4 timeouts + 5 s).
    return await eventually(done, 12, f"{count} deliveries to finish")


async def attempt_outcomes(http: httpx.AsyncClient) -> dict[str, float]:
    text = (await http.get("/metrics")).text
    found = re.findall(r'^sluice_webhook_attempts_total\{outcome="([^"]*)"\} (\S+)$', text, re.M)
    return {outcome: float(count) for outcome, count in found}


@pytest.mark.parametrize("case", MALFORMED)
async def test_a_malformed_answer_is_recorded_and_the_delivery_fails_after_its_schedule(
    client: httpx.AsyncClient, case: str
) -> None:
    async with WebhookReceiver(plan=lambda request: MALFORMED[case]) as receiver:
        created = await subscribe(client, receiver.url)
        await admit(client, "p1")
        (delivery,) = await finished(client, created["id"])
        assert (delivery["status"], delivery["attempts"]) == ("failed", 3), delivery
        for attempt in delivery["attempt_log"]:
            assert attempt["status_code"] is None
            assert attempt["error"].startswith("the answer is not HTTP/1.1"), attempt
        assert len(receiver.requests) == 3, "sent once per attempt, no more"
        health = await webhook(client, created["id"])
        assert health["failing_since"] is not None and health["failed"] == 1
    outcomes = await attempt_outcomes(client)
    assert outcomes["protocol_error"] == 3
    assert set(outcomes) <= set(WEBHOOK_OUTCOMES)


async def test_a_retry_after_that_is_no_number_is_ignored_and_the_schedule_goes_on(
    client: httpx.AsyncClient,
) -> None:
    """A latin-1 "²" passes str.isdigit(), and float() refused it in the pump's judging."""
    slow_down = b"HTTP/1.1 429 Slow Down\r\nretry-after: \xb2\r\ncontent-length: 0\r\n\r\n"
    async with WebhookReceiver(plan=lambda request: slow_down) as receiver:
        created = await subscribe(client, receiver.url)
        await admit(client, "p1")
        (delivery,) = await finished(client, created["id"])
        assert (delivery["status"], delivery["attempts"]) == ("failed", 3), delivery
        assert [a["status_code"] for a in delivery["attempt_log"]] == [429] * 3
        assert {a["error"] for a in delivery["attempt_log"]} == {"HTTP 429"}
        assert len(receiver.requests) == 3


async def test_a_2xx_body_with_a_nul_byte_is_a_success_recorded_once(
    client: httpx.AsyncClient,
) -> None:
    """PostgreSQL refuses NUL in text and jsonb: the whole batch of results failed, and the
    delivery, already received, was sent again when its lease ran out."""
    ok = b'HTTP/1.1 200 OK\r\ncontent-length: 12\r\n\r\n{"ok":\x00true}'
    async with WebhookReceiver(plan=lambda request: ok) as receiver:
        created = await subscribe(client, receiver.url)
        await admit(client, "p1")
        (delivery,) = await finished(client, created["id"])
        assert (delivery["status"], delivery["attempts"]) == ("succeeded", 1), delivery
        (attempt,) = delivery["attempt_log"]
        assert (attempt["status_code"], attempt["error"]) == (200, None)
        assert attempt["response_body"] == '{"ok":\ufffdtrue}'
        assert len(receiver.requests) == 1


async def test_a_url_path_outside_latin_1_is_delivered_percent_encoded(
    client: httpx.AsyncClient,
) -> None:
    async with WebhookReceiver() as receiver:
        created = await subscribe(client, f"{receiver.url}/\u2603?who=\u00e9")
        await admit(client, "p1")
        (delivery,) = await finished(client, created["id"])
        assert (delivery["status"], delivery["attempts"]) == ("succeeded", 1), delivery
        assert [r.path for r in receiver.requests] == ["/hook/%E2%98%83?who=%C3%A9"]


async def test_an_ordered_entity_moves_on_once_a_malformed_answer_dead_letters(
    client: httpx.AsyncClient,
) -> None:
    """An ordered subscription sends an entity's next event only after the one before ends:
    an attempt that never ended held the entity back for good."""

    def plan(request: Received) -> Any:
        first = request.json()["type"] == "patient.PatientAdmitted"
        return MALFORMED["negative-chunk-size"] if first else 200

    async with WebhookReceiver(plan=plan) as receiver:
        created = await subscribe(client, receiver.url, ordered=True)
        await admit(client, "p1")
        await record_vitals(client, "p1")
        admitted, recorded = await finished(client, created["id"], count=2)
        assert (admitted["status"], admitted["attempts"]) == ("failed", 3), admitted
        assert (recorded["status"], recorded["attempts"]) == ("succeeded", 1), recorded
        types = [r.json()["type"] for r in receiver.requests]
        assert types == ["patient.PatientAdmitted"] * 3 + ["patient.VitalsRecorded"]


async def test_a_204_from_uvicorn_is_a_success_at_the_first_attempt(
    client: httpx.AsyncClient,
) -> None:
    """uvicorn answers 204 without Content-Length and keeps the connection: an answer read
    "to the connection's end" timed out, and every delivery was retried and dead-lettered."""
    async with uvicorn_receiver("httptools") as receiver:
        created = await subscribe(client, f"{receiver.base_url}/no-content")
        await admit(client, "p1")
        await admit(client, "p2")
        found = await finished(client, created["id"], count=2)
        for delivery in found:
            assert (delivery["status"], delivery["attempts"]) == ("succeeded", 1), delivery
            assert [a["status_code"] for a in delivery["attempt_log"]] == [204]
        assert receiver.paths == ["/no-content"] * 2
        assert (await webhook(client, created["id"]))["failing_since"] is None
