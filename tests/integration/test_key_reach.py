"""What a key can reach, and for how long: webhook subscriptions belong to the key that made
them, choosing events needs the right to read them, a revoked key loses what it opened, and
made-up keys can neither flood the database nor push real keys out of the cache."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi import FastAPI

from app.keys.bootstrap import prepare_keys
from app.keys.store import KeyStore
from app.settings import Settings
from tests.support.auth import ADMIN_KEY
from tests.support.webhooks import eventually, webhook_settings

HOOK = {"url": "http://127.0.0.1:9/hook"}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return webhook_settings(tmp_path, webhook_allow_private=True)


async def new_key(http: httpx.AsyncClient, *scopes: str, **fields: Any) -> dict[str, Any]:
    created = await http.post("/admin/keys", json={"name": "k", "scopes": list(scopes), **fields})
    assert created.status_code == 201, created.text
    return dict(created.json())


def bearer(key: dict[str, Any] | str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key if isinstance(key, str) else key['key']}"}


# -- webhooks:manage alone does not read the log -------------------------------------------------
async def test_webhooks_manage_alone_cannot_subscribe_or_replay(client: httpx.AsyncClient) -> None:
    manager = await new_key(client, "webhooks:manage")
    refused = await client.post("/webhooks", json=HOOK, headers=bearer(manager))
    assert refused.status_code == 403, refused.text
    assert refused.json()["required_scopes"] == ["events:read"]
    assert (await client.get("/webhooks", headers=bearer(manager))).json() == []


async def test_a_subscription_is_seen_and_changed_by_its_owner_and_admins_only(
    client: httpx.AsyncClient,
) -> None:
    alice = await new_key(client, "webhooks:manage", "events:read")
    bob = await new_key(client, "webhooks:manage", "events:read")
    made = await client.post("/webhooks", json=HOOK, headers=bearer(alice))
    assert made.status_code == 201
    hook = made.json()
    assert hook["owner_key_id"] == alice["id"]
    path = f"/webhooks/{hook['id']}"
    # bob: as if it did not exist, whatever he tries
    assert (await client.get("/webhooks", headers=bearer(bob))).json() == []
    attempts = [
        ("GET", path, None),
        ("PATCH", path, {"url": "http://127.0.0.1:9/bob"}),
        ("DELETE", path, None),
        ("POST", f"{path}/rotate-secret", None),
        ("POST", f"{path}/replay?after=0", None),
        ("GET", f"{path}/deliveries", None),
        ("POST", f"{path}/test", None),
    ]
    for method, url, body in attempts:
        answer = await client.request(method, url, json=body, headers=bearer(bob))
        assert answer.status_code == 404, (method, url, answer.text)
    # alice and the admin see and change it
    assert [h["id"] for h in (await client.get("/webhooks", headers=bearer(alice))).json()] == [
        hook["id"]
    ]
    assert (await client.get(path)).status_code == 200  # the fixture's admin key
    changed = await client.patch(path, json={"description": "mine"}, headers=bearer(alice))
    assert changed.status_code == 200 and changed.json()["description"] == "mine"
    stored = await client.get(path, headers=bearer(alice))
    assert stored.json()["url"] == HOOK["url"]  # bob's re-pointing changed nothing


async def test_an_owner_that_lost_events_read_may_not_re_point_enable_or_replay(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    owner = await new_key(client, "webhooks:manage", "events:read")
    hook = (await client.post("/webhooks", json=HOOK, headers=bearer(owner))).json()
    path = f"/webhooks/{hook['id']}"
    # its scopes narrowed (as re-seeding a key does), every process told
    db.execute("UPDATE api_keys SET scopes = '{webhooks:manage}' WHERE id = %s", [owner["id"]])
    db.execute("NOTIFY sluice_keys")
    await eventually(
        lambda: _refused(client, "POST", f"{path}/replay?after=0", owner), 10, "the scope gone"
    )
    for method, url, body in [
        ("PATCH", path, {"url": "http://127.0.0.1:9/elsewhere"}),
        ("PATCH", path, {"event_types": ["*"]}),
        ("PATCH", path, {"enabled": True}),
        ("POST", f"{path}/deliveries/1/retry", None),
    ]:
        answer = await client.request(method, url, json=body, headers=bearer(owner))
        assert answer.status_code == 403, (method, url, body, answer.text)
    # what does not choose events stays its owner's to do
    quiet = await client.patch(path, json={"description": "x"}, headers=bearer(owner))
    assert quiet.status_code == 200
    assert (await client.patch(path, json={"enabled": False}, headers=bearer(owner))).is_success


async def _refused(client: httpx.AsyncClient, method: str, url: str, key: dict[str, Any]) -> bool:
    return (await client.request(method, url, headers=bearer(key))).status_code == 403


async def test_existing_subscriptions_without_an_owner_are_left_to_admins(
    client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    hook = (await client.post("/webhooks", json=HOOK)).json()
    db.execute("UPDATE webhooks SET owner_key_id = NULL")  # as the migration leaves old rows
    manager = await new_key(client, "webhooks:manage", "events:read")
    assert (await client.get(f"/webhooks/{hook['id']}", headers=bearer(manager))).status_code == 404
    assert (await client.get(f"/webhooks/{hook['id']}")).status_code == 200


async def test_revoking_a_key_disables_the_subscriptions_it_made(
    client: httpx.AsyncClient,
) -> None:
    owner = await new_key(client, "webhooks:manage", "events:read")
    hook = (await client.post("/webhooks", json=HOOK, headers=bearer(owner))).json()
    other = (await client.post("/webhooks", json=HOOK)).json()  # the admin's: untouched
    assert (await client.delete(f"/admin/keys/{owner['id']}")).status_code == 200

    async def disabled() -> dict[str, Any] | None:
        found = (await client.get(f"/webhooks/{hook['id']}")).json()
        return found if not found["enabled"] else None

    found = await eventually(disabled, 10, "the revoked key's subscription disabled")
    assert "revoked" in found["disabled_reason"]
    assert (await client.get(f"/webhooks/{other['id']}")).json()["enabled"] is True


# -- failed authentication --------------------------------------------------------------------
async def test_wrong_keys_are_throttled_per_address_and_never_evict_real_ones(
    settings: Settings, client: httpx.AsyncClient, db: psycopg.Connection
) -> None:
    reader = await new_key(client, "events:read")
    assert (await client.get("/events", headers=bearer(reader))).status_code == 200
    lookups_before = _key_lookups(db)
    answers = [
        (await client.get("/events", headers=bearer(f"sk_{n:040d}"))).status_code
        for n in range(200)
    ]
    burst = int(settings.keys.auth_failures_burst)
    assert answers[:burst] == [401] * burst
    assert set(answers[burst + 2 :]) == {429}, answers
    throttled = await client.get("/events", headers=bearer(f"sk_{'9' * 40}"))
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1
    assert throttled.json()["type"] == "/problems/too-many-failed-authentications"
    # the database was asked about the wrong keys no more than the burst (and its refill)
    assert _key_lookups(db) - lookups_before <= burst + 5
    # a real key still works from the same address, and was not pushed out by 200 others
    assert (await client.get("/events", headers=bearer(reader))).status_code == 200


def _key_lookups(db: psycopg.Connection) -> int:
    """Index scans of api_keys' key_hash index: one per lookup of a presented key."""
    row = db.execute(
        "SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'api_keys_key_hash_key'"
    ).fetchone()
    db.execute("SELECT pg_stat_clear_snapshot()")
    return int(row[0]) if row else 0


# -- limits and seeds ---------------------------------------------------------------------------
@pytest.mark.parametrize("rate", [5e-324, 1e-9, 0.009, 1e300, -1])
async def test_a_rate_limit_outside_the_sensible_range_is_refused_422(
    client: httpx.AsyncClient, rate: float
) -> None:
    made = await client.post(
        "/admin/keys",
        json={"name": "k", "scopes": ["events:read"], "rate_limit_per_second": rate},
    )
    assert made.status_code == 422, made.text


async def test_the_smallest_allowed_rate_limit_answers_429_not_500(
    client: httpx.AsyncClient,
) -> None:
    slow = await new_key(client, "events:read", rate_limit_per_second=0.01)
    answers = [(await client.get("/events", headers=bearer(slow))).status_code for _ in range(3)]
    assert answers[-1] == 429
    assert 500 not in answers


def test_settings_refuse_a_rate_that_would_overflow() -> None:
    with pytest.raises(ValueError, match="rate limit"):
        Settings(rate_limit_per_second=5e-324)


async def test_a_revoked_environment_key_stays_revoked_after_a_restart(
    app: FastAPI, client: httpx.AsyncClient, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    seeded = [k for k in (await client.get("/admin/keys")).json() if k["origin"] == "env"]
    other_admin = await new_key(client, "admin")
    assert (await client.delete(f"/admin/keys/{seeded[0]['id']}")).status_code == 200
    await prepare_keys(  # what the next start does
        KeyStore(app.state.runtime.pool), admin_key=settings.keys.admin_key, first_start_in=None
    )
    assert "stays revoked" in caplog.text
    after = {
        k["id"]: k for k in (await client.get("/admin/keys", headers=bearer(other_admin))).json()
    }
    assert after[seeded[0]["id"]]["revoked_at"] is not None
    refused = await client.get("/events", headers=bearer(ADMIN_KEY))
    assert refused.status_code == 401
