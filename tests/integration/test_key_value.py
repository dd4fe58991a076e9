"""Key-value entities on the real command path: the value is one row, each change is in the
log, If-Match and Idempotency-Key work as for any entity, and a value not written expires."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import psycopg
import pytest

from app.sdk import Service
from tests.support import flows
from tests.support.waiting import eventually


@pytest.fixture
def service() -> Service:
    return flows.service


def logged(db: psycopg.Connection, entity_id: str) -> list[tuple[str, dict[str, Any]]]:
    return db.execute(
        "SELECT type, data FROM events WHERE entity_type = 'note' AND entity_id = %s"
        " ORDER BY version",
        [entity_id],
    ).fetchall()


async def test_set_read_update_and_delete(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    missing = await client.get("/entities/note/n1")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    refused = await client.post("/entities/note/n1/tag", json={"tag": "x"})
    assert refused.status_code == 409 and refused.json()["detail"] == "no note to tag"

    written = await client.post("/entities/note/n1/set", json={"text": "hello"})
    assert written.status_code == 200 and written.json()["version"] == 1
    tagged = await client.post("/entities/note/n1/tag", json={"tag": "a"})
    assert tagged.json()["reply"] == {"tags": 1} and tagged.json()["version"] == 2
    read = await client.get("/entities/note/n1")
    assert read.json() == {
        "entity_type": "note",
        "entity_id": "n1",
        "version": 2,
        "state": {"text": "hello", "tags": ["a"]},
    }
    assert read.headers["etag"] == '"2"'

    same = await client.post("/entities/note/n1/set", json={"text": "hello", "tags": ["a"]})
    assert same.json()["version"] == 2 and same.json()["events"] == []  # nothing to write

    dropped = await client.post("/entities/note/n1/drop", json={})
    assert dropped.json()["reply"] == {"had": True} and dropped.json()["version"] == 3
    assert (await client.get("/entities/note/n1")).status_code == 404
    again = await client.post("/entities/note/n1/drop", json={})
    assert again.json()["reply"] == {"had": False} and again.json()["events"] == []

    assert logged(db, "n1") == [
        ("StateChanged", {"state": {"text": "hello", "tags": []}}),
        ("StateChanged", {"state": {"text": "hello", "tags": ["a"]}}),
        ("Deleted", {"reason": "deleted"}),
    ]
    # Each change carries the whole value: loading reads the last one, no snapshot is kept.
    assert db.execute("SELECT count(*) FROM snapshots").fetchone() == (0,)

    rewritten = await client.post("/entities/note/n1/set", json={"text": "back"})
    assert rewritten.json()["version"] == 4
    assert (await client.get("/entities/note/n1")).json()["state"]["text"] == "back"


async def test_if_match_and_idempotency_key(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await client.post("/entities/note/n2/set", json={"text": "one"})
    stale = await client.post(
        "/entities/note/n2/set", json={"text": "two"}, headers={"If-Match": '"0"'}
    )
    assert stale.status_code == 409 and stale.json()["current_version"] == 1
    fresh = await client.post(
        "/entities/note/n2/set", json={"text": "two"}, headers={"If-Match": '"1"'}
    )
    assert fresh.status_code == 200 and fresh.json()["version"] == 2

    key = {"Idempotency-Key": "note-n2-three"}
    first = await client.post("/entities/note/n2/set", json={"text": "three"}, headers=key)
    replay = await client.post("/entities/note/n2/set", json={"text": "three"}, headers=key)
    assert replay.json() == first.json() and replay.headers["idempotent-replayed"] == "true"
    reused = await client.post("/entities/note/n2/set", json={"text": "four"}, headers=key)
    assert reused.status_code == 422
    assert len(logged(db, "n2")) == 3

    invalid = await client.post("/entities/note/n2/set", json={"text": ""})
    assert invalid.status_code == 422
    assert len(logged(db, "n2")) == 3


async def test_concurrent_writes_with_if_match_one_wins(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await client.post("/entities/note/n3/set", json={"text": "base"})
    answers = await asyncio.gather(
        *(
            client.post(
                "/entities/note/n3/set", json={"text": f"w{n}"}, headers={"If-Match": '"1"'}
            )
            for n in range(8)
        )
    )
    codes = sorted(answer.status_code for answer in answers)
    assert codes == [200] + [409] * 7
    winner = next(answer for answer in answers if answer.status_code == 200)
    state = (await client.get("/entities/note/n3")).json()
    assert state["version"] == 2 == winner.json()["version"]
    assert [data["state"]["text"] for _, data in logged(db, "n3")][-1] == state["state"]["text"]


async def test_a_value_not_written_for_expire_after_is_deleted(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    await client.post("/entities/memo/m1/set", json={"text": "soon gone"})
    await client.post("/entities/memo/m2/set", json={"text": "kept"})

    async def kept_alive() -> None:  # m2 is written again before its second is up, twice
        for n in range(3):
            await asyncio.sleep(0.6)
            await client.post("/entities/memo/m2/set", json={"text": f"kept {n}"})

    writer = asyncio.create_task(kept_alive())

    async def m1_gone() -> bool:
        return (await client.get("/entities/memo/m1")).status_code == 404

    await eventually(m1_gone, 10, "memo m1 to expire")
    await writer
    assert (await client.get("/entities/memo/m2")).status_code == 200  # written 0.6 s ago
    types = db.execute(
        "SELECT type, data FROM events WHERE entity_id = 'm1' ORDER BY version"
    ).fetchall()
    assert types == [
        ("StateChanged", {"state": {"text": "soon gone"}}),
        ("Deleted", {"reason": "expired"}),
    ]

    async def m2_gone() -> bool:
        return (await client.get("/entities/memo/m2")).status_code == 404

    await eventually(m2_gone, 10, "memo m2 to expire after its last write")
    m2 = db.execute("SELECT type FROM events WHERE entity_id = 'm2' ORDER BY version").fetchall()
    assert [row[0] for row in m2] == ["StateChanged"] * 4 + ["Deleted"]
