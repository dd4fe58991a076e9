"""The command front door: the fast path and the documented FastAPI route take every request
the same way, since one parser serves both. Each case runs through each, and the answers
(status, problem type, which field was wrong, reply headers) must agree."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.settings import Settings
from tests.support.auth import AUTH_HEADERS
from tests.support.ward import ADMIT

JSON = {"content-type": "application/json"}
CASES: dict[str, tuple[str, str, dict[str, str], bytes | dict[str, Any]]] = {
    # name: (entity id, command, headers, body)
    "accepted": ("p1", "admit", {}, ADMIT),
    "not-json": ("p2", "admit", {"content-type": "text/plain"}, b"hello"),
    "malformed-json": ("p3", "admit", JSON, b"{not json"),
    "a-field-missing": ("p4", "admit", {}, {"ward": "W1"}),
    "a-string-for-an-integer": ("p5", "record-vitals", {}, {"pulse": "95"}),
    "entity-id-out-of-its-rules": ("-bad", "admit", {}, ADMIT),
    "idempotency-key-with-a-space": ("p6", "admit", {"idempotency-key": "a b"}, ADMIT),
    "correlation-id-too-long": ("p7", "admit", {"x-correlation-id": "c" * 201}, ADMIT),
    "traceparent-too-long": ("p8", "admit", {"traceparent": "t" * 101}, ADMIT),
    "malformed-if-match": ("p9", "admit", {"if-match": "3"}, ADMIT),
    "if-match-on-a-stale-version": ("p1", "discharge", {"if-match": '"7"'}, {}),
    "if-match-any-on-a-new-entity": ("p11", "admit", {"if-match": "*"}, ADMIT),
    "if-match-any-on-an-entity": ("p1", "transfer", {"if-match": "*"}, {"ward": "W3", "bed": "2"}),
    "a-rejection": ("p1", "admit", {}, ADMIT),
    "correlation-carried": ("p10", "admit", {"x-correlation-id": "trace-42"}, ADMIT),
}


@pytest.fixture
async def both(
    settings: Settings, database_url: str
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    apps = {
        "fast path": create_app(settings, database_url=database_url),
        "FastAPI route": create_app(settings, database_url=database_url, command_fast_path=False),
    }
    async with contextlib.AsyncExitStack() as stack:
        clients = {}
        for name, app in apps.items():
            await stack.enter_async_context(app.router.lifespan_context(app))
            clients[name] = await stack.enter_async_context(_client(app))
        yield clients


def _client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sluice.test", headers=AUTH_HEADERS
    )


async def answer(
    http: httpx.AsyncClient, case: tuple[str, str, dict[str, str], Any]
) -> dict[str, Any]:
    entity_id, command, headers, body = case
    path = f"/entities/patient/{entity_id}/{command}"
    if isinstance(body, bytes):
        reply = await http.post(path, content=body, headers=headers)
    else:
        reply = await http.post(path, json=body, headers=headers)
    seen = {"status": reply.status_code, "etag": reply.headers.get("etag")}
    if reply.headers.get("content-type", "").startswith("application/problem+json"):
        problem = reply.json()
        seen["type"] = problem["type"]
        seen["where"] = sorted((e["location"], e["pointer"]) for e in problem.get("errors", []))
    else:
        seen["correlation"] = reply.headers.get("x-correlation-id") == "trace-42"
        seen["version"] = reply.json()["version"]
    return seen


async def test_every_case_is_answered_alike_on_both_paths(
    both: dict[str, httpx.AsyncClient],
) -> None:
    answers: dict[str, dict[str, Any]] = {name: {} for name in both}
    for prefix, (name, http) in zip(("f-", "r-"), both.items(), strict=True):
        for case_name, case in CASES.items():
            entity_id = case[0] if case[0].startswith("-") else prefix + case[0]
            answers[name][case_name] = await answer(http, (entity_id, *case[1:]))
    fast, route = answers["fast path"], answers["FastAPI route"]
    for case_name in CASES:
        assert fast[case_name] == route[case_name], case_name
    expected = {
        "accepted": 200,
        "not-json": 415,
        "malformed-json": 400,
        "a-field-missing": 422,
        "a-string-for-an-integer": 422,
        "entity-id-out-of-its-rules": 422,
        "idempotency-key-with-a-space": 422,
        "correlation-id-too-long": 422,
        "traceparent-too-long": 422,
        "malformed-if-match": 400,
        "if-match-on-a-stale-version": 409,
        "if-match-any-on-a-new-entity": 409,
        "if-match-any-on-an-entity": 200,
        "a-rejection": 409,
        "correlation-carried": 200,
    }
    assert {name: seen["status"] for name, seen in fast.items()} == expected
    assert fast["correlation-carried"]["correlation"] is True
