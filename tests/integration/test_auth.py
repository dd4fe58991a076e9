"""API keys and scopes: every operation is closed without a key, refuses a key lacking its
scope, and serves a key holding exactly that scope; keys are stored only as hashes."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
import websockets
from fastapi import FastAPI
from websockets.exceptions import InvalidStatus

from app.keys.scopes import ALL_SCOPES, grants
from app.main import create_app
from app.settings import Settings
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.receiver import Receiver
from tests.support.servers import uvicorn_in_thread
from tests.support.ward import ADMIT, NORMAL_VITALS
from tests.support.webhooks import eventually, webhook_settings

BASE = "http://sluice.test"
PUBLIC = {("GET", "/healthz"), ("GET", "/readyz")}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # This suite presents thousands of wrong keys on purpose: no failure throttle here
    # (tested on its own below).
    return webhook_settings(tmp_path, webhook_allow_private=True, auth_failures_burst=1e6)


async def new_key(http: httpx.AsyncClient, *scopes: str, **fields: Any) -> str:
    created = await http.post(
        "/admin/keys", json={"name": f"key for {scopes}", "scopes": list(scopes), **fields}
    )
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@dataclass
class World:
    """What the sample requests refer to: a patient, an alert, a webhook with a finished
    delivery, a key to revoke. Counters keep each sample request valid however often sent."""

    webhook_key: str  # webhooks:manage + events:read; it created (owns) the webhook
    webhook_id: str
    delivery_id: int
    spare_key_id: str
    serial: int = 0

    def fresh(self) -> str:
        self.serial += 1
        return f"n{self.serial}"


Sample = Callable[[World], tuple[str, Any]]  # -> (path, json body or None)

RAISE = {"ward": "W1", "score": 7, "risk": "high", "reasons": ["pulse"]}

# Every documented operation, with a request that succeeds for a key holding its scope.
SAMPLES: dict[tuple[str, str], Sample] = {
    ("GET", "/metrics"): lambda w: ("/metrics", None),
    ("GET", "/events"): lambda w: ("/events?after=0", None),
    ("GET", "/consumers"): lambda w: ("/consumers", None),
    ("GET", "/consumers/{name}"): lambda w: ("/consumers/ward-board", None),
    # skip answers 409 unless the consumer is stuck: past the scope check either way
    ("POST", "/consumers/{name}/skip"): lambda w: ("/consumers/ward-board/skip", None),
    ("POST", "/consumers/{name}/pause"): lambda w: ("/consumers/open-alerts/pause", None),
    ("POST", "/consumers/{name}/resume"): lambda w: ("/consumers/open-alerts/resume", None),
    # a consumer the service no longer declares, made afresh for each request
    ("DELETE", "/consumers/{name}"): lambda w: ("/consumers/{retired}", None),
    ("GET", "/webhooks"): lambda w: ("/webhooks", None),
    ("POST", "/webhooks"): lambda w: ("/webhooks", {"url": "http://127.0.0.1:9/none"}),
    ("GET", "/webhooks/{webhook_id}"): lambda w: (f"/webhooks/{w.webhook_id}", None),
    ("PATCH", "/webhooks/{webhook_id}"): lambda w: (
        f"/webhooks/{w.webhook_id}",
        {"description": w.fresh()},
    ),
    ("DELETE", "/webhooks/{webhook_id}"): lambda w: ("/webhooks/{deletable}", None),
    ("POST", "/webhooks/{webhook_id}/rotate-secret"): lambda w: (
        f"/webhooks/{w.webhook_id}/rotate-secret",
        None,
    ),
    ("GET", "/webhooks/{webhook_id}/deliveries"): lambda w: (
        f"/webhooks/{w.webhook_id}/deliveries",
        None,
    ),
    ("POST", "/webhooks/{webhook_id}/deliveries/{delivery_id}/retry"): lambda w: (
        f"/webhooks/{w.webhook_id}/deliveries/{w.delivery_id}/retry",
        None,
    ),
    ("POST", "/webhooks/{webhook_id}/replay"): lambda w: (
        f"/webhooks/{w.webhook_id}/replay?after=0",
        None,
    ),
    ("POST", "/webhooks/{webhook_id}/test"): lambda w: (f"/webhooks/{w.webhook_id}/test", None),
    ("GET", "/admin/keys"): lambda w: ("/admin/keys", None),
    ("POST", "/admin/keys"): lambda w: ("/admin/keys", {"name": "x", "scopes": ["views:read"]}),
    ("DELETE", "/admin/keys/{key_id}"): lambda w: (f"/admin/keys/{w.spare_key_id}", None),
    ("POST", "/entities/patient/{entity_id}/admit"): lambda w: (
        f"/entities/patient/{w.fresh()}/admit",
        ADMIT,
    ),
    ("POST", "/entities/patient/{entity_id}/record-vitals"): lambda w: (
        "/entities/patient/p1/record-vitals",
        NORMAL_VITALS,
    ),
    ("POST", "/entities/patient/{entity_id}/transfer"): lambda w: (
        "/entities/patient/p1/transfer",
        {"ward": "W2", "bed": w.fresh()},
    ),
    ("POST", "/entities/patient/{entity_id}/discharge"): lambda w: (
        "/entities/patient/p2/discharge",
        {},
    ),
    ("GET", "/entities/patient/{entity_id}"): lambda w: ("/entities/patient/p1", None),
    ("GET", "/entities/patient/{entity_id}/events"): lambda w: (
        "/entities/patient/p1/events",
        None,
    ),
    ("POST", "/entities/alert/{entity_id}/raise"): lambda w: (
        f"/entities/alert/{w.fresh()}/raise",
        RAISE,
    ),
    ("POST", "/entities/alert/{entity_id}/escalate"): lambda w: (
        "/entities/alert/a1/escalate",
        {"episode": 1},
    ),
    ("POST", "/entities/alert/{entity_id}/acknowledge"): lambda w: (
        "/entities/alert/a1/acknowledge",
        {"clinician": "Dr Who"},
    ),
    ("POST", "/entities/alert/{entity_id}/resolve"): lambda w: (
        "/entities/alert/a2/resolve",
        {"note": "fine"},
    ),
    ("GET", "/entities/alert/{entity_id}"): lambda w: ("/entities/alert/a1", None),
    ("GET", "/entities/alert/{entity_id}/events"): lambda w: ("/entities/alert/a1/events", None),
    ("GET", "/views"): lambda w: ("/views", None),
    ("GET", "/views/ward-board"): lambda w: ("/views/ward-board", None),
    ("GET", "/views/ward-board/{key}"): lambda w: ("/views/ward-board/p1", None),
    ("POST", "/views/ward-board/rebuild"): lambda w: ("/views/ward-board/rebuild", None),
    ("GET", "/views/open-alerts"): lambda w: ("/views/open-alerts", None),
    ("GET", "/views/open-alerts/{key}"): lambda w: ("/views/open-alerts/a1", None),
    ("POST", "/views/open-alerts/rebuild"): lambda w: ("/views/open-alerts/rebuild", None),
    ("GET", "/views/callout-status"): lambda w: ("/views/callout-status", None),
    # no outreach here: the row is not there, past the scope check all the same
    ("GET", "/views/callout-status/{key}"): lambda w: ("/views/callout-status/p1", None),
    ("POST", "/views/callout-status/rebuild"): lambda w: ("/views/callout-status/rebuild", None),
    ("GET", "/streams"): lambda w: ("/streams", None),
    ("GET", "/asyncapi.json"): lambda w: ("/asyncapi.json", None),
    ("GET", "/streams/alerts"): lambda w: ("/streams/alerts?after=0", None),
}
NOT_2XX = {("POST", "/consumers/{name}/skip"): 409, ("GET", "/views/callout-status/{key}"): 404}


def operations(app: FastAPI) -> dict[tuple[str, str], list[str]]:
    """Every documented operation and the scopes its security requirement names."""
    found = {}
    for path, methods in app.openapi()["paths"].items():
        for method, operation in methods.items():
            requirements = operation.get("security") or [{}]
            found[(method.upper(), path)] = [s for r in requirements for s in r.get("apiKey", [])]
    return found


@pytest.fixture
async def world(client: httpx.AsyncClient) -> AsyncIterator[World]:
    for patient in ("p1", "p2"):
        assert (await client.post(f"/entities/patient/{patient}/admit", json=ADMIT)).is_success
    for alert in ("a1", "a2"):
        assert (await client.post(f"/entities/alert/{alert}/raise", json=RAISE)).is_success
    owner = await new_key(client, "webhooks:manage", "events:read")
    async with Receiver() as receiver:
        hook = (
            await client.post("/webhooks", json={"url": receiver.url}, headers=bearer(owner))
        ).json()
        await client.post(f"/webhooks/{hook['id']}/test")

        async def finished() -> int | None:
            page = await client.get(f"/webhooks/{hook['id']}/deliveries?status=succeeded")
            found = page.json()["deliveries"]
            return int(found[0]["id"]) if found else None

        delivery_id = await eventually(finished, 15, "the ping delivered")
        spare = (await client.post("/admin/keys", json={"name": "s", "scopes": ["admin"]})).json()
        yield World(owner, hook["id"], delivery_id, spare["id"])


def retired_consumer(database_url: str) -> str:
    name = f"retired-{uuid.uuid4().hex[:8]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(
            "INSERT INTO checkpoints (name, kind, position) VALUES (%s, 'view', 0)", [name]
        )
    return name


async def test_every_operation_needs_a_key_then_its_scope_and_serves_that_scope(
    app: FastAPI, client: httpx.AsyncClient, world: World, database_url: str
) -> None:
    documented = operations(app)
    assert set(documented) - PUBLIC == set(SAMPLES), "every operation has a sample request"
    assert all(documented[op] == [] for op in PUBLIC)
    keys: dict[tuple[str, ...], str] = {}
    anonymous = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE)
    failures = []
    for operation, sample in SAMPLES.items():
        method, _ = operation
        scopes = tuple(documented[operation])
        assert (scopes and "admin" not in scopes) or scopes == ("admin",), (operation, scopes)
        path, body = sample(world)
        if "{deletable}" in path:
            made = await client.post(
                "/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=bearer(world.webhook_key)
            )
            path = path.replace("{deletable}", made.json()["id"])
        if "{retired}" in path:
            path = path.replace("{retired}", retired_consumer(database_url))
        if path.startswith("/webhooks/"):  # a subscription answers only its owner (or admin)
            holder = world.webhook_key
        else:
            holder = keys.get(scopes) or keys.setdefault(scopes, await new_key(client, *scopes))
        # every other scope, except those that grant this one (streams:read grants each
        # streams:read:<id>)
        others = [
            s
            for s in ALL_SCOPES
            if s not in (*scopes, "admin") and not grants(frozenset({s}), scopes[0])
        ]
        lacking = await new_key(client, *others, *scopes[1:])  # lacks the first one at least
        answers = []
        for headers in (None, bearer("sk_" + "x" * 40), bearer(lacking), bearer(holder)):
            sender = anonymous if headers is None else client
            reply = await sender.request(method, path, json=body, headers=headers)
            if path.endswith("/rebuild") and reply.status_code == 409:  # one rebuild at a time
                await eventually(lambda: rebuilt(client), 15, "the other rebuild done")
                reply = await client.request(method, path, json=body, headers=headers)
            answers.append(reply.status_code)
            if reply.status_code in (401, 403):
                assert reply.headers["content-type"] == "application/problem+json"
        wanted_last = NOT_2XX.get(operation)
        last_ok = answers[3] == wanted_last if wanted_last else 200 <= answers[3] < 300
        if answers[:3] != [401, 401, 403] or not last_ok:
            failures.append((method, path, scopes, answers))
    await anonymous.aclose()
    assert failures == []


async def rebuilt(client: httpx.AsyncClient) -> bool:
    views = (await client.get("/views")).json()
    return all((view.get("rebuild") or {}).get("state") != "running" for view in views)


async def test_admin_scope_may_do_everything_and_public_probes_need_no_key(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE) as bare:
        for path in ("/healthz", "/readyz", "/openapi.json", "/docs"):
            assert (await bare.get(path)).status_code == 200, path
        refused = await bare.get("/events")
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert (await client.get("/events")).status_code == 200  # the fixture's admin key
    assert (await client.get("/metrics")).status_code == 200


async def test_a_stored_key_is_not_recoverable_from_the_database(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    created = await client.post("/admin/keys", json={"name": "ci", "scopes": ["events:read"]})
    key = created.json()["key"]
    assert key.startswith("sk_") and len(key) >= 40
    dump = "\n".join(
        str(row) for row in db.execute("SELECT * FROM api_keys").fetchall()
    )  # every column of every key
    assert key not in dump and key[3:] not in dump
    assert hashlib.sha256(key.encode()).hexdigest() in dump  # what is stored instead
    assert ADMIN_KEY not in dump
    listed = (await client.get("/admin/keys")).json()
    assert all("key" not in item and "key_hash" not in item for item in listed)


async def test_a_revoked_key_stops_working_at_once(client: httpx.AsyncClient) -> None:
    created = (
        await client.post("/admin/keys", json={"name": "t", "scopes": ["events:read"]})
    ).json()
    assert (await client.get("/events", headers=bearer(created["key"]))).status_code == 200
    revoked = await client.delete(f"/admin/keys/{created['id']}")
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert (await client.get("/events", headers=bearer(created["key"]))).status_code == 401
    again = await client.delete(f"/admin/keys/{created['id']}")
    assert again.status_code == 404


async def test_a_key_over_its_rate_gets_429_with_retry_after_and_loses_no_accepted_command(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    key = await new_key(client, "commands:write", rate_limit_per_second=5)
    answers = []
    for n in range(40):
        reply = await client.post(f"/entities/patient/r{n}/admit", json=ADMIT, headers=bearer(key))
        answers.append(reply)
    accepted = [r for r in answers if r.status_code == 200]
    limited = [r for r in answers if r.status_code == 429]
    assert len(accepted) + len(limited) == 40
    assert 5 <= len(accepted) < 40 and limited
    assert all(int(r.headers["retry-after"]) >= 1 for r in limited)
    assert limited[0].json()["type"] == "/problems/rate-limited"
    stored = {
        row[0] for row in db.execute("SELECT entity_id FROM events WHERE entity_id LIKE 'r%'")
    }
    assert stored == {r.json()["entity_id"] for r in accepted}


async def test_scopes_and_names_are_validated_when_creating_a_key(
    client: httpx.AsyncClient,
) -> None:
    for body in (
        {"name": "x", "scopes": []},
        {"name": "x", "scopes": ["root"]},
        {"name": "", "scopes": ["admin"]},
    ):
        reply = await client.post("/admin/keys", json=body)
        assert reply.status_code == 422, body


async def test_json_nested_too_deep_is_refused_before_the_route(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    deep = "[" * 40 + "]" * 40
    reply = await client.post(
        "/entities/patient/deep/admit",
        content=f'{{"name": "a", "ward": "W1", "bed": "1", "x": {deep}}}',
        headers={"content-type": "application/json"},
    )
    assert reply.status_code == 400
    assert reply.json()["type"] == "/problems/json-too-deep"
    brackets_in_a_string = '{"name": "' + "[" * 60 + '", "ward": "W1", "bed": "1"}'
    fine = await client.post(
        "/entities/patient/deep/admit",
        content=brackets_in_a_string,
        headers={"content-type": "application/json"},
    )
    assert fine.status_code == 200, fine.text


class TestWebSocketAuth:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(admin_key=ADMIN_KEY, data_dir=tmp_path / "data", ws_clients_per_key=2)

    async def test_refused_before_accept_without_key_with_bad_key_or_wrong_scope(
        self, settings: Settings, database_url: str
    ) -> None:
        app = create_app(settings, database_url=database_url)
        with uvicorn_in_thread(app) as base:
            ws = base.replace("http://", "ws://") + "/ws/events"
            async with httpx.AsyncClient(base_url=base, headers=AUTH_HEADERS) as http:
                views_only = await new_key(http, "views:read")
                reader = await new_key(http, "events:read")
            for url, headers, status in (
                (ws, {}, 401),
                (ws + "?access_token=sk_" + "y" * 40, {}, 401),
                (ws, bearer(views_only), 403),
            ):
                with pytest.raises(InvalidStatus) as refused:
                    async with websockets.connect(url, additional_headers=headers):
                        pass
                assert refused.value.response.status_code == status
            async with (
                websockets.connect(f"{ws}?access_token={reader}") as by_query,
                websockets.connect(ws, additional_headers=bearer(reader)) as by_header,
            ):
                with pytest.raises(InvalidStatus) as third:
                    async with websockets.connect(ws, additional_headers=bearer(reader)):
                        pass
                assert third.value.response.status_code == 429
                await by_query.ping()
                await by_header.ping()
            # the two closed: the key may connect again
            async with websockets.connect(ws, additional_headers=bearer(reader)) as again:
                await again.ping()


def test_a_key_is_only_accepted_in_its_shape() -> None:
    with pytest.raises(ValueError):
        Settings(admin_key="secret")
    assert Settings(admin_key="sk_" + uuid.uuid4().hex).keys.admin_key
