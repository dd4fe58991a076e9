"""Webhook subscriptions: create, read, change, delete, rotate the secret — and their health."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.relay.checkpoints import REGISTER
from app.relay.sql import HEAD_SEQ
from app.webhooks.dispatcher import DISPATCHER, WebhookDispatcher
from app.webhooks.signing import new_secret

WEBHOOK_CHANNEL = "sluice_webhooks"  # a subscription changed: signing caches are dropped

COLUMNS = """id, url, event_types, description, enabled, ordered, after_seq, disabled_reason,
failing_since, last_success_at, created_at, updated_at, previous_secret_expires_at, owner_key_id,
(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = webhooks.id
    AND d.status = 'pending') AS pending,
(SELECT count(*) FROM webhook_deliveries d WHERE d.webhook_id = webhooks.id
    AND d.status = 'failed') AS failed"""

# A new subscription receives the events after the log's head at its creation. It reads that
# head holding the dispatcher's checkpoint row (shared), so no dispatcher batch is between
# its look at the subscriptions and its commit meanwhile (app/webhooks/dispatcher.py).
HOLD_THE_DISPATCHER = "SELECT 1 FROM checkpoints WHERE name = %(name)s FOR SHARE"
CREATE = f"""
WITH created AS (
    INSERT INTO webhooks
        (id, url, event_types, description, enabled, ordered, secret, after_seq, owner_key_id)
    VALUES (%(id)s, %(url)s, %(event_types)s, %(description)s, %(enabled)s, %(ordered)s,
            %(secret)s, {HEAD_SEQ}, %(owner)s)
    RETURNING *
), notified AS (SELECT pg_notify('{WEBHOOK_CHANNEL}', '') )
SELECT {COLUMNS.replace("webhooks.id", "created.id")}, (SELECT count(*) FROM notified) AS _
FROM created
"""

# Who may see a subscription: its owner, or anyone when %(owner)s is NULL (an admin key).
OWNED = "(%(owner)s::uuid IS NULL OR owner_key_id = %(owner)s::uuid)"
GET = f"SELECT {COLUMNS} FROM webhooks WHERE id = %(id)s AND {OWNED}"
LIST = f"SELECT {COLUMNS} FROM webhooks WHERE {OWNED} ORDER BY created_at, id"
DELETE = f"""
WITH gone AS (DELETE FROM webhooks WHERE id = %(id)s AND {OWNED} RETURNING id)
SELECT count(*), pg_notify('{WEBHOOK_CHANNEL}', '') FROM gone
"""
ROTATE = f"""
UPDATE webhooks
SET previous_secret = secret, secret = %(secret)s,
    previous_secret_expires_at = now() + make_interval(secs => %(grace)s), updated_at = now()
WHERE id = %(id)s AND {OWNED}
RETURNING previous_secret_expires_at, pg_notify('{WEBHOOK_CHANNEL}', '')
"""
SIGNING = """
SELECT url, secret, previous_secret, previous_secret_expires_at
FROM webhooks WHERE id = %(id)s
"""
UPDATABLE = ("url", "event_types", "description", "enabled", "ordered")
# A subscription is its creator's reach into the log: when that key is revoked, it stops.
# Rows are locked by id first, the order the pump's results take them in (deliveries.py,
# RECORD): left to the update's scan, the two could deadlock.
DISABLE_REVOKED_OWNERS = f"""
WITH locked AS MATERIALIZED (
    SELECT id FROM webhooks
    WHERE enabled AND owner_key_id IN (SELECT id FROM api_keys WHERE revoked_at IS NOT NULL)
    ORDER BY id
    FOR NO KEY UPDATE
), disabled AS (
    UPDATE webhooks SET enabled = false, updated_at = now(),
        disabled_reason = 'the API key that created it was revoked'
    WHERE id IN (SELECT id FROM locked) AND enabled
    RETURNING id
)
SELECT count(*), pg_notify('{WEBHOOK_CHANNEL}', '') FROM disabled
"""


@dataclass(frozen=True)
class Signing:
    """Where to send, and the secrets: the previous one signs until its grace period ends."""

    url: str
    secret: str
    previous_secret: str | None
    previous_expires_at: datetime | None

    def secrets(self, now: datetime) -> list[str]:
        previous = self.previous_secret
        live = previous and self.previous_expires_at and self.previous_expires_at > now
        return [self.secret, previous] if live and previous else [self.secret]


class Subscriptions:
    """Every method takes ``owner``: the calling key's id, so it reaches only subscriptions
    that key created; None for an admin key, which reaches them all."""

    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def create(
        self,
        *,
        owner: uuid.UUID | None,
        url: str,
        event_types: list[str],
        description: str,
        enabled: bool,
        ordered: bool,
    ) -> tuple[dict[str, Any], str]:
        secret = new_secret()
        params = {
            "id": uuid.uuid4(),
            "url": url,
            "event_types": json.dumps(event_types),
            "description": description,
            "enabled": enabled,
            "ordered": ordered,
            "secret": secret,
            "owner": owner,
        }
        async with self.pool.connection() as conn, conn.transaction():
            # Before the dispatcher's first start its row does not exist, and a lock on
            # nothing holds nothing: register it as its first start would.
            from_now = WebhookDispatcher.start_from == "now"
            registered = {"name": DISPATCHER, "kind": WebhookDispatcher.kind, "from_now": from_now}
            await conn.execute(REGISTER, registered)
            await conn.execute(HOLD_THE_DISPATCHER, {"name": DISPATCHER})
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(CREATE, params)
                row = await cur.fetchone()
        assert row is not None
        return row, secret

    async def get(self, webhook_id: uuid.UUID, owner: uuid.UUID | None) -> dict[str, Any] | None:
        return await self._one(GET, {"id": webhook_id, "owner": owner})

    async def list(self, owner: uuid.UUID | None) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(LIST, {"owner": owner})
            return await cur.fetchall()

    async def update(
        self, webhook_id: uuid.UUID, owner: uuid.UUID | None, changes: dict[str, Any]
    ) -> dict[str, Any] | None:
        sets = [f"{name} = %({name})s" for name in UPDATABLE if name in changes]
        params = {**changes, "id": webhook_id, "owner": owner}
        if "event_types" in changes:
            params["event_types"] = json.dumps(changes["event_types"])
        if changes.get("enabled"):  # switched (back) on: a fresh start for its health
            sets += ["disabled_reason = NULL", "failing_since = NULL"]
        sets.append("updated_at = now()")
        statement = (
            f"WITH changed AS (UPDATE webhooks SET {', '.join(sets)} WHERE id = %(id)s"
            f" AND {OWNED} RETURNING id) SELECT pg_notify('{WEBHOOK_CHANNEL}', '') FROM changed"
        )
        async with self.pool.connection() as conn:
            cursor = await conn.execute(statement, params)
            if cursor.rowcount == 0:
                return None
        return await self.get(webhook_id, owner)

    async def delete(self, webhook_id: uuid.UUID, owner: uuid.UUID | None) -> bool:
        row = await self._one(DELETE, {"id": webhook_id, "owner": owner})
        return bool(row and row["count"])

    async def rotate(
        self, webhook_id: uuid.UUID, owner: uuid.UUID | None, grace_seconds: float
    ) -> tuple[str, Any] | None:
        secret = new_secret()
        params = {"id": webhook_id, "owner": owner, "secret": secret, "grace": grace_seconds}
        row = await self._one(ROTATE, params)
        return None if row is None else (secret, row["previous_secret_expires_at"])

    async def disable_revoked_owners(self) -> int:
        """Disable the subscriptions whose creating key is revoked; returns how many."""
        row = await self._one(DISABLE_REVOKED_OWNERS, {})
        return int(row["count"]) if row else 0

    async def signing(self, webhook_id: uuid.UUID) -> Signing | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(SIGNING, {"id": webhook_id})).fetchone()
        return None if row is None else Signing(*row)

    async def _one(self, statement: str, params: dict[str, Any]) -> dict[str, Any] | None:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(statement, params)
            return await cur.fetchone()
