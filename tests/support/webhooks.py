"""Helpers for webhook tests: subscribe, wait, read deliveries, verify signatures, and a
receiver that can also answer with headers (Retry-After, Location) and says which answers it
finished writing."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psycopg
import standardwebhooks

from app.settings import Settings
from app.webhooks.pump import DeliveryPump
from tests.support.auth import ADMIN_KEY
from tests.support.receiver import (
    Behaviour,
    Received,
    Receiver,
)
from tests.support.waiting import eventually
from tests.support.ward import ADMIT, vitals

T = TypeVar("T")

# Short enough for tests; each test may override any of these.
TEST_SETTINGS: dict[str, Any] = {
    # Every connection opened up front, so workers hardly ever wait for one: a worker cancelled
    # while a connection is handed to it survives its cancellation on Python 3.11 and the app's
    # shutdown then hangs (see test_the_pump_stops_when_cancelled_as_a_connection_reaches_it).
    "pool_min_size": 16,
    "pool_max_size": 16,
    "webhook_retry_schedule": "0.2,0.5,1",
    "webhook_timeout_seconds": 2.0,
    "relay_poll_seconds": 0.2,
    "leader_retry_seconds": 0.5,
}

# NEWS2 8 (high): the vitals monitor raises an alert for the patient (alert.AlertRaised).
ALARMING_VITALS = vitals(respiration_rate=24, spo2=93, systolic_bp=105, pulse=112, temperature=38.4)


def webhook_settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        admin_key=ADMIN_KEY, data_dir=tmp_path / "data", **{**TEST_SETTINGS, **overrides}
    )


@dataclass(frozen=True)
class Reply:
    """Answer ``status`` with ``headers``, after ``after`` seconds."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    after: float = 0.0


@dataclass
class WebhookReceiver(Receiver):
    """The plain receiver, plus ``Reply`` behaviours and a record of finished answers.

    ``spans`` holds (request, answered_at) for every answer written in full, so tests can
    tell which requests were in flight together; ``delivered()`` are the 2xx among them.
    """

    spans: list[tuple[Received, float]] = field(default_factory=list)

    def delivered(self, path: str | None = None) -> list[Received]:
        return [
            request
            for request, _ in self.spans
            if _status(request.answered) < 300 and (path is None or request.path == path)
        ]

    def at(self, path: str) -> list[Received]:
        return [request for request in self.requests if request.path == path]

    async def _respond(
        self, writer: asyncio.StreamWriter, request: Received, behaviour: Any
    ) -> None:
        reply = _as_reply(behaviour)
        if reply.after:
            await asyncio.sleep(reply.after)
        await _write(writer, reply)
        self.spans.append((request, time.monotonic()))


def _as_reply(behaviour: Behaviour | Reply) -> Reply:
    if isinstance(behaviour, Reply):
        return behaviour
    if isinstance(behaviour, tuple):
        return Reply(200, after=behaviour[1])
    return Reply(int(behaviour))


def _status(behaviour: Behaviour | Reply) -> int:
    return _as_reply(behaviour).status if behaviour not in ("hang", "reset") else 599


async def _write(writer: asyncio.StreamWriter, reply: Reply) -> None:
    body = b'{"ok": true}' if reply.status < 300 else b'{"error": "nope"}'
    headers = {
        "content-type": "application/json",
        "content-length": str(len(body)),
        **reply.headers,
    }
    head = f"HTTP/1.1 {reply.status} X\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    writer.write(head.encode() + b"\r\n" + body)
    await writer.drain()


# -- the API ------------------------------------------------------------------------------------
async def subscribe(http: httpx.AsyncClient, url: str, **fields: Any) -> dict[str, Any]:
    response = await http.post("/webhooks", json={"url": url, **fields})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def deliveries(
    http: httpx.AsyncClient, webhook_id: str, **params: Any
) -> list[dict[str, Any]]:
    response = await http.get(f"/webhooks/{webhook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    return list(response.json()["deliveries"])


async def webhook(http: httpx.AsyncClient, webhook_id: str) -> dict[str, Any]:
    response = await http.get(f"/webhooks/{webhook_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def admit(http: httpx.AsyncClient, patient_id: str) -> str:
    """Admit a patient; returns the event id."""
    return await _command(http, f"patient/{patient_id}/admit", ADMIT)


async def record_vitals(http: httpx.AsyncClient, patient_id: str, **changes: Any) -> str:
    body = ALARMING_VITALS if changes.pop("alarming", False) else vitals(**changes)
    return await _command(http, f"patient/{patient_id}/record-vitals", body)


async def _command(http: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    response = await http.post(f"/entities/{path}", json=body)
    assert response.status_code == 200, response.text
    return str(response.json()["events"][0]["event_id"])


async def log_events(http: httpx.AsyncClient) -> list[dict[str, Any]]:
    """The whole sequenced log, as CloudEvents."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        page = (await http.get("/events", params={"after": after, "limit": 1000})).json()
        found += page["events"]
        if not page["events"]:
            return found
        after = page["next_after"]


async def seq_of(http: httpx.AsyncClient, event_id: str, seconds: float = 10) -> int:
    """The event's seq, once the relay has given it one."""

    async def sequenced() -> int | None:
        return next((e["seq"] for e in await log_events(http) if e["id"] == event_id), None)

    return await eventually(sequenced, seconds, f"event {event_id} to be sequenced")


def log_event_ids(database_url: str, event_type: str | None = None) -> set[str]:
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT event_id::text FROM events WHERE seq IS NOT NULL"
            " AND (%(t)s::text IS NULL OR entity_type || '.' || type = %(t)s)",
            {"t": event_type},
        ).fetchall()
    return {event_id for (event_id,) in rows}


# -- waiting and checking -----------------------------------------------------------------------
def verify(secret: str, request: Received) -> Any:
    """The body, if the request's Standard Webhooks signature verifies with ``secret``."""
    return standardwebhooks.Webhook(secret).verify(request.body, request.headers)


def verifies(secret: str, request: Received) -> bool:
    try:
        verify(secret, request)
    except standardwebhooks.WebhookVerificationError:
        return False
    return True


def signatures(request: Received) -> list[str]:
    return request.headers["webhook-signature"].split(" ")


# -- ordered delivery ----------------------------------------------------------------------------
def assert_in_order_per_entity(receiver: WebhookReceiver, path: str) -> None:
    """Every attempt of an ordered subscription goes forward per entity (a retry repeats the
    same seq, never an earlier one), and successful deliveries strictly increase."""
    attempts: dict[str, list[int]] = defaultdict(list)
    for request in receiver.at(path):
        body = request.json()
        attempts[body["subject"]].append(body["seq"])
    for subject, seqs in attempts.items():
        assert seqs == sorted(seqs), f"{path}: {subject} went back in seq: {seqs}"
    succeeded: dict[str, list[int]] = defaultdict(list)
    for request in receiver.delivered(path):
        body = request.json()
        succeeded[body["subject"]].append(body["seq"])
    for subject, seqs in succeeded.items():
        assert all(a < b for a, b in itertools.pairwise(seqs)), (path, subject, seqs)


def entities_in_flight_together(receiver: WebhookReceiver, path: str) -> int:
    """The most entities whose requests were being answered at the same moment."""
    edges = []
    for request, answered_at in receiver.spans:
        if request.path == path:
            subject = request.json()["subject"]
            edges += [(request.at, 1, subject), (answered_at, -1, subject)]
    active: Counter[str] = Counter()
    most = 0
    for _, step, subject in sorted(edges, key=lambda edge: (edge[0], edge[1])):
        active[subject] += step
        most = max(most, sum(1 for count in active.values() if count > 0))
    return most


async def all_sent(http: httpx.AsyncClient, seconds: float = 15) -> None:
    """Wait until every delivery that will ever exist for the log as it is has ended: the
    dispatcher has read the whole log (deliveries are made there, and only there) and no
    delivery is pending. Then nothing more is on its way to any receiver."""
    from tests.support.consumers import caught_up

    await caught_up(http, "webhook-dispatcher", seconds)

    async def nothing_pending() -> bool:
        hooks = (await http.get("/webhooks")).json()
        return all(hook["pending"] == 0 for hook in hooks)

    await eventually(nothing_pending, seconds, "every delivery to end")


def delivery_pump(http: httpx.AsyncClient) -> DeliveryPump:
    """The webhook pump of the app behind an in-process client (to watch it from a test)."""
    runtime = http._transport.app.state.runtime  # type: ignore[attr-defined]
    (pump,) = [worker for worker in runtime.workers if isinstance(worker, DeliveryPump)]
    return pump
