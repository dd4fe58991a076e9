"""The command API over HTTP (httpx ASGI transport, real PostgreSQL)."""

from __future__ import annotations

import httpx
import psycopg
import pytest

from tests.support.db import settled_counts, table_counts
from tests.support.ward import ADMIT, vitals

PROBLEM = "application/problem+json"


async def admit(client: httpx.AsyncClient, patient_id: str = "p1") -> httpx.Response:
    response = await client.post(f"/entities/patient/{patient_id}/admit", json=ADMIT)
    assert response.status_code == 200, response.text
    return response


async def test_command_returns_version_events_and_etag(client: httpx.AsyncClient) -> None:
    response = await admit(client)
    body = response.json()
    assert body["entity_id"] == "p1"
    assert body["version"] == 1
    assert [(e["type"], e["version"]) for e in body["events"]] == [("patient.PatientAdmitted", 1)]
    assert response.headers["etag"] == '"1"'
    assert response.headers["x-correlation-id"]


async def test_state_and_history_follow_the_commands(client: httpx.AsyncClient) -> None:
    await admit(client)
    await client.post("/entities/patient/p1/record-vitals", json=vitals(pulse=120))
    state = await client.get("/entities/patient/p1")
    assert state.status_code == 200
    assert state.headers["etag"] == '"2"'
    assert state.json()["state"]["latest_vitals"]["pulse"] == 120
    assert state.json()["version"] == 2

    unchanged = await client.get("/entities/patient/p1", headers={"If-None-Match": '"2"'})
    assert unchanged.status_code == 304

    history = (await client.get("/entities/patient/p1/events")).json()
    assert [e["type"] for e in history["events"]] == [
        "patient.PatientAdmitted",
        "patient.VitalsRecorded",
    ]
    first = history["events"][0]
    assert first["specversion"] == "1.0"
    assert first["source"] == "/sluice/ward/patient"
    assert first["subject"] == "p1"
    assert first["entityversion"] == 1
    assert first["data"]["name"] == ADMIT["name"]

    page = (await client.get("/entities/patient/p1/events?limit=1")).json()
    assert len(page["events"]) == 1 and page["next_after"] == 1
    rest = (await client.get("/entities/patient/p1/events?after=1")).json()
    assert [e["entityversion"] for e in rest["events"]] == [2]


async def test_correlation_id_header_is_stored_in_event_metadata(
    client: httpx.AsyncClient,
) -> None:
    headers = {"X-Correlation-ID": "trace-42"}
    response = await client.post("/entities/patient/p1/admit", json=ADMIT, headers=headers)
    assert response.headers["x-correlation-id"] == "trace-42"
    history = (await client.get("/entities/patient/p1/events")).json()
    assert history["events"][0]["correlationid"] == "trace-42"


@pytest.mark.parametrize(
    ("method", "path", "fragment"),
    [
        ("POST", "/entities/ghost/p1/admit", "no entity type 'ghost'"),
        ("POST", "/entities/patient/p1/teleport", "has no command 'teleport'"),
        ("GET", "/entities/patient/nobody", "has no events"),
        ("GET", "/entities/patient/nobody/events", "has no events"),
        ("GET", "/entities/ghost/p1", "no entity type 'ghost'"),
    ],
)
async def test_unknown_things_are_404_problems(
    client: httpx.AsyncClient, method: str, path: str, fragment: str
) -> None:
    response = await client.request(method, path, json={})
    assert response.status_code == 404
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == 404 and fragment in problem["detail"]
    assert problem["instance"] == path


async def test_rejection_is_409_with_the_entitys_reason(client: httpx.AsyncClient) -> None:
    response = await client.post("/entities/patient/p1/record-vitals", json=vitals())
    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/command-rejected"
    assert response.json()["detail"] == "the patient has not been admitted"


async def test_invalid_body_is_422_with_field_detail(client: httpx.AsyncClient) -> None:
    await admit(client)
    response = await client.post(
        "/entities/patient/p1/record-vitals", json=vitals(spo2=101, pulse=-1)
    )
    assert response.status_code == 422
    pointers = {error["pointer"] for error in response.json()["errors"]}
    assert pointers == {"#/spo2", "#/pulse"}


async def test_unknown_field_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/entities/patient/p1/admit", json={**ADMIT, "colour": "red"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/colour"


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/entities/patient/p1/admit",
        content=b'{"name": "Ada", ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/malformed-json"


async def test_non_json_body_is_415(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/entities/patient/p1/admit", content=b"name=Ada", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415


async def test_oversized_body_is_413_even_without_content_length(
    client: httpx.AsyncClient,
) -> None:
    huge = b'{"name": "' + b"x" * 70_000 + b'", "ward": "W1", "bed": "1"}'

    async def chunks():  # streamed: no Content-Length header, the limit must still hold
        for start in range(0, len(huge), 8192):
            yield huge[start : start + 8192]

    response = await client.post(
        "/entities/patient/p1/admit", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


async def test_bad_entity_id_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/entities/patient/-bad id/admit", json=ADMIT)
    assert response.status_code == 422


async def test_refused_commands_change_nothing(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await admit(client)
    key = {"Idempotency-Key": "only-once"}
    await client.post("/entities/patient/p1/record-vitals", json=vitals(), headers=key)
    before = await settled_counts(db)
    refused = [
        await client.post("/entities/patient/p1/admit", json=ADMIT),  # rejected
        await client.post(
            "/entities/patient/p1/admit", json=ADMIT, headers={"Idempotency-Key": "r"}
        ),
        await client.post("/entities/patient/p1/record-vitals", json=vitals(spo2=400)),  # invalid
        await client.post(
            "/entities/patient/p1/transfer",
            json={"ward": "W2", "bed": "1", "x": "y" * 70_000},  # oversized
        ),
        await client.post(
            "/entities/patient/p1/admit",
            content=b"{",
            headers={"content-type": "application/json"},
        ),
        await client.post("/entities/patient/p1/record-vitals", json=vitals(pulse=99), headers=key),
        await client.post(
            "/entities/patient/p1/transfer",
            json={"ward": "W2", "bed": "1"},
            headers={"If-Match": '"1"'},
        ),
    ]
    assert [r.status_code for r in refused] == [409, 409, 422, 413, 400, 422, 409]
    assert all(r.headers["content-type"] == PROBLEM for r in refused)
    assert await settled_counts(db) == before


async def test_if_match_guards_the_version(client: httpx.AsyncClient) -> None:
    await admit(client)
    stale = await client.post(
        "/entities/patient/p1/transfer",
        json={"ward": "W2", "bed": "1"},
        headers={"If-Match": '"0"'},
    )
    assert stale.status_code == 409
    assert stale.json()["current_version"] == 1
    assert stale.headers["etag"] == '"1"'
    fresh = await client.post(
        "/entities/patient/p1/transfer",
        json={"ward": "W2", "bed": "1"},
        headers={"If-Match": '"1"'},
    )
    assert fresh.status_code == 200 and fresh.json()["version"] == 2
    malformed = await client.post(
        "/entities/patient/p1/discharge", json={}, headers={"If-Match": "one"}
    )
    assert malformed.status_code == 400


async def test_if_match_star_asks_only_that_the_entity_exists(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    """RFC 9110's ``If-Match: *``: act on the entity only if it exists (whatever its
    version); a command that would otherwise start a new entity is refused, storing nothing."""
    before = table_counts(db)
    refused = await client.post(
        "/entities/patient/nobody/admit", json=ADMIT, headers={"If-Match": "*"}
    )
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert "no events" in refused.json()["detail"]
    assert table_counts(db) == before
    await admit(client)
    moved = await client.post(
        "/entities/patient/p1/transfer", json={"ward": "W2", "bed": "1"}, headers={"If-Match": "*"}
    )
    assert moved.status_code == 200 and moved.json()["version"] == 2


async def test_idempotency_key_replays_the_stored_reply(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await admit(client)
    key = {"Idempotency-Key": "vitals-0001"}
    first = await client.post("/entities/patient/p1/record-vitals", json=vitals(), headers=key)
    events_after_first = table_counts(db)["events"]
    again = await client.post("/entities/patient/p1/record-vitals", json=vitals(), headers=key)
    assert again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    assert table_counts(db)["events"] == events_after_first

    other_body = await client.post(
        "/entities/patient/p1/record-vitals", json=vitals(pulse=130), headers=key
    )
    assert other_body.status_code == 422
    assert other_body.json()["type"] == "/problems/idempotency-key-reused"


async def test_replay_answers_even_when_the_entity_would_now_refuse(
    client: httpx.AsyncClient,
) -> None:
    key = {"Idempotency-Key": "admit-once"}
    first = await client.post("/entities/patient/p1/admit", json=ADMIT, headers=key)
    replay = await client.post("/entities/patient/p1/admit", json=ADMIT, headers=key)
    assert replay.status_code == 200 and replay.json() == first.json()


async def test_same_key_for_another_entity_is_422(client: httpx.AsyncClient) -> None:
    key = {"Idempotency-Key": "shared"}
    await client.post("/entities/patient/p1/admit", json=ADMIT, headers=key)
    other = await client.post("/entities/patient/p2/admit", json=ADMIT, headers=key)
    assert other.status_code == 422


async def test_expired_idempotency_key_is_forgotten(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await admit(client)
    key = {"Idempotency-Key": "old"}
    await client.post("/entities/patient/p1/record-vitals", json=vitals(), headers=key)
    db.execute("UPDATE command_log SET created_at = now() - interval '25 hours'")
    again = await client.post("/entities/patient/p1/record-vitals", json=vitals(), headers=key)
    assert again.status_code == 200
    assert "idempotent-replayed" not in again.headers
    assert again.json()["version"] == 3


async def test_command_with_no_event_replies_and_writes_nothing(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    alert = {"ward": "W1", "score": 6, "risk": "medium", "reasons": ["pulse"]}
    raised = await client.post("/entities/alert/p1/raise", json=alert)
    assert [e["type"] for e in raised.json()["events"]] == ["alert.AlertRaised"]
    before = await settled_counts(db)
    lower = await client.post("/entities/alert/p1/raise", json={**alert, "risk": "low-medium"})
    assert lower.status_code == 200
    assert lower.json()["events"] == [] and lower.json()["reply"]["outcome"] == "unchanged"
    assert await settled_counts(db) == before
    higher = await client.post("/entities/alert/p1/raise", json={**alert, "risk": "high"})
    assert [e["type"] for e in higher.json()["events"]] == ["alert.AlertEscalated"]


async def test_problem_for_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    missing = await client.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    wrong_method = await client.delete("/entities/patient/p1")
    assert wrong_method.status_code == 405 and wrong_method.headers["content-type"] == PROBLEM


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = (await client.get("/readyz")).json()
    assert ready["status"] == "ready" and ready["sequencer"] in {"leader", "standby"}


async def test_malformed_idempotency_key_is_422(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/entities/patient/p1/admit", json=ADMIT, headers={"Idempotency-Key": "has space"}
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/Idempotency-Key"
