"""The delivery queue in PostgreSQL: created by the dispatcher, claimed with SKIP LOCKED leases.

A claim is a lease (``locked_until``), committed at once: the HTTP attempt happens outside any
transaction, and its result is written in one statement (attempt row, delivery, subscription
health). A process that dies mid-attempt leaves a lease that expires, and another process
tries again: at-least-once.

Ordered subscriptions: a delivery is claimable only when no earlier pending delivery of the
same entity exists for that subscription — the in-flight one included (it is pending and
leased) — so each entity's events go one at a time, in seq order, while entities go in
parallel. A dead-lettered (failed) delivery stops holding the entity back.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.webhooks.matching import sql_wants

DELIVERY_CHANNEL = "sluice_deliveries"  # deliveries are due: the pumps claim again

# Per subscription, the oldest due deliveries up to its free share (index on
# (webhook_id, next_attempt_at)), so one subscription's backlog never hides the others'.
CLAIM = """
WITH hooks AS (
    SELECT w.id, w.ordered, %(per_webhook)s - COALESCE(busy.value::int, 0) AS free
    FROM webhooks w LEFT JOIN jsonb_each_text(%(in_flight)s::jsonb) AS busy
        ON busy.key = w.id::text
    WHERE w.enabled
), candidates AS (
    SELECT c.id, c.next_attempt_at
    FROM hooks h CROSS JOIN LATERAL (
        SELECT d.id, d.next_attempt_at FROM webhook_deliveries d
        WHERE d.webhook_id = h.id AND d.status = 'pending' AND d.next_attempt_at <= now()
          AND (d.locked_until IS NULL OR d.locked_until < now())
          AND (NOT h.ordered OR d.seq IS NULL OR NOT EXISTS (
              SELECT 1 FROM webhook_deliveries e
              WHERE e.webhook_id = d.webhook_id AND e.entity_type = d.entity_type
                AND e.entity_id = d.entity_id AND e.status = 'pending' AND e.seq < d.seq))
        ORDER BY d.next_attempt_at, d.id
        LIMIT h.free
    ) AS c
    WHERE h.free > 0
), picked AS (
    SELECT d.id FROM webhook_deliveries d
    WHERE d.id = ANY(ARRAY(
        SELECT id FROM candidates ORDER BY next_attempt_at, id LIMIT %(limit)s))
      AND d.status = 'pending'
    FOR UPDATE SKIP LOCKED
)
UPDATE webhook_deliveries d
SET locked_until = now() + make_interval(secs => %(lease)s), attempts = d.attempts + 1
WHERE d.id = ANY(ARRAY(SELECT id FROM picked))
RETURNING d.id, d.webhook_id, d.seq, d.event_id, d.event_type, d.payload, d.attempts
"""

# One statement for a batch of results: the attempts, the deliveries' new states, and the
# subscriptions' health — one update per subscription (a statement may not update a row
# twice), written only when it changes, so a busy subscription's row is not rewritten per
# attempt. A success in the batch makes it healthy; a 410 disables it all the same.
# The pump writes two batches at a time. Each locks its subscriptions in one order (by id)
# first: left to the update, the order is whatever the table scan meets, which moves as rows
# get new versions, and two batches could deadlock (the loser's results would be lost and
# its deliveries sent again once their lease ends).
RECORD = """
WITH r AS (
    SELECT * FROM jsonb_to_recordset(%(results)s::jsonb) AS r(
        id bigint, webhook_id uuid, attempted_at timestamptz, status_code int, latency_ms int,
        body text, error text, status text, delay float8, gone bool)
), attempt AS (
    INSERT INTO webhook_attempts
        (delivery_id, attempted_at, status_code, latency_ms, response_body, error)
    SELECT id, attempted_at, status_code, latency_ms, body, error FROM r
), delivery AS (
    UPDATE webhook_deliveries d
    SET status = r.status, locked_until = NULL, last_status_code = r.status_code,
        last_error = r.error,
        next_attempt_at = now() + make_interval(secs => COALESCE(r.delay, 0)),
        finished_at = CASE WHEN r.status = 'pending' THEN NULL ELSE now() END
    FROM r WHERE d.id = r.id
), outcome AS (
    SELECT webhook_id, bool_or(status = 'succeeded') AS succeeded, bool_or(gone) AS gone
    FROM r GROUP BY webhook_id
), locked AS MATERIALIZED (
    SELECT w.id, w.failing_since FROM webhooks w
    WHERE w.id IN (SELECT webhook_id FROM outcome)
    ORDER BY w.id
    FOR NO KEY UPDATE
), health AS (
    SELECT w.id,
           o.gone OR (NOT o.succeeded AND COALESCE(w.failing_since, now())
                      < now() - make_interval(secs => %(disable_after)s)) AS disable,
           o.succeeded, o.gone
    FROM locked w JOIN outcome o ON o.webhook_id = w.id
), updated AS (
    UPDATE webhooks w
    SET failing_since = CASE WHEN h.succeeded THEN NULL
                             ELSE COALESCE(w.failing_since, now()) END,
        last_success_at = CASE WHEN h.succeeded THEN now() ELSE w.last_success_at END,
        enabled = w.enabled AND NOT h.disable,
        disabled_reason = CASE
            WHEN h.gone THEN 'the receiver answered 410 Gone'
            WHEN h.disable THEN 'every attempt has failed since ' || w.failing_since::text
            ELSE w.disabled_reason END
    FROM health h
    WHERE w.id = h.id
      AND (h.disable OR NOT h.succeeded OR w.failing_since IS NOT NULL
           OR w.last_success_at IS NULL OR w.last_success_at < now() - interval '1 second')
)
SELECT 1
"""

# The next retry to fall due (what is due already is either claimed or held back).
SECONDS_TO_NEXT = """
SELECT EXTRACT(EPOCH FROM next_attempt_at - now())
FROM webhook_deliveries
WHERE status = 'pending' AND next_attempt_at > now()
ORDER BY next_attempt_at
LIMIT 1
"""

RETRY = f"""
WITH again AS (
    UPDATE webhook_deliveries
    SET status = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL,
        finished_at = NULL
    WHERE id = %(id)s AND webhook_id = %(webhook_id)s AND status <> 'pending'
    RETURNING id
)
SELECT count(*), pg_notify('{DELIVERY_CHANNEL}', '') FROM again
"""

REPLAY = f"""
WITH wanted AS (
    SELECT e.seq, e.event_id, e.t, e.entity_type, e.entity_id
    FROM (SELECT seq, event_id, entity_type || '.' || type AS t, entity_type, entity_id
          FROM events WHERE seq > %(after)s) AS e
    JOIN webhooks w ON w.id = %(webhook_id)s
    WHERE {sql_wants("w.event_types", "e.t")}
), queued AS (
    INSERT INTO webhook_deliveries
        (webhook_id, seq, event_id, event_type, entity_type, entity_id)
    SELECT %(webhook_id)s, seq, event_id, t, entity_type, entity_id FROM wanted
    ORDER BY seq  -- the dispatcher's order for one subscription: the two never deadlock
    ON CONFLICT (webhook_id, seq) WHERE seq IS NOT NULL DO UPDATE
        SET status = 'pending', attempts = 0, next_attempt_at = now(), locked_until = NULL,
            finished_at = NULL
        WHERE webhook_deliveries.status <> 'pending'  -- pending ones are on their way already
    RETURNING 1
)
SELECT count(*), pg_notify('{DELIVERY_CHANNEL}', '') FROM queued
"""

PING = f"""
WITH queued AS (
    INSERT INTO webhook_deliveries
        (webhook_id, event_id, event_type, entity_type, entity_id, payload)
    VALUES (%(webhook_id)s, %(event_id)s, 'sluice.ping', 'sluice', 'ping', %(payload)s)
    RETURNING id
)
SELECT id, pg_notify('{DELIVERY_CHANNEL}', '') FROM queued
"""

LIST = """
SELECT d.id, d.seq, d.event_id, d.event_type, d.entity_type, d.entity_id, d.status,
       d.attempts, d.next_attempt_at, d.created_at, d.finished_at, d.last_status_code,
       d.last_error,
       COALESCE((SELECT jsonb_agg(jsonb_build_object(
                    'attempted_at', a.attempted_at, 'status_code', a.status_code,
                    'latency_ms', a.latency_ms, 'response_body', a.response_body,
                    'error', a.error) ORDER BY a.id)
                 FROM webhook_attempts a WHERE a.delivery_id = d.id), '[]') AS attempt_log
FROM webhook_deliveries d
WHERE d.webhook_id = %(webhook_id)s
  AND (%(status)s::text IS NULL OR d.status = %(status)s)
  AND (%(before)s::bigint IS NULL OR d.id < %(before)s)
ORDER BY d.id DESC
LIMIT %(limit)s
"""


@dataclass(frozen=True)
class Claimed:
    id: int
    webhook_id: uuid.UUID
    seq: int | None
    event_id: uuid.UUID
    event_type: str
    payload: dict[str, Any] | None
    attempts: int


@dataclass(frozen=True)
class Result:
    """One attempt's outcome, and what it means for the delivery."""

    delivery: Claimed
    attempted_at: Any
    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    status: str  # pending (retry), succeeded, failed
    delay: float | None
    gone: bool = False


def _storable(text: str | None) -> str | None:
    """Text PostgreSQL accepts: no NUL (text and jsonb refuse it) and no lone surrogate. It is
    the receiver's (its body, its garbled status line): one refused row would fail the whole
    batch, and every delivery in it would be sent again, unrecorded."""
    if text is None:
        return None
    text = text.replace("\x00", "\N{REPLACEMENT CHARACTER}")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        text = text.encode("utf-8", errors="replace").decode("utf-8")
    return text


class Deliveries:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def claim(
        self, limit: int, *, per_webhook: int, in_flight: dict[uuid.UUID, int], lease: float
    ) -> list[Claimed]:
        """Up to ``limit`` due deliveries, at most ``per_webhook`` in flight per subscription
        counting this process's ``in_flight`` ones (a slow receiver holds only its share)."""
        params = {
            "limit": limit,
            "per_webhook": per_webhook,
            "in_flight": json.dumps({str(key): count for key, count in in_flight.items()}),
            "lease": lease,
        }
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(CLAIM, params)).fetchall()
        return [Claimed(*row) for row in rows]

    async def record(self, results: Sequence[Result], *, disable_after: float) -> None:
        rows = [
            {
                "id": result.delivery.id,
                "webhook_id": str(result.delivery.webhook_id),
                "attempted_at": result.attempted_at.isoformat(),
                "status_code": result.status_code,
                "latency_ms": result.latency_ms,
                "body": _storable(result.body),
                "error": _storable(result.error),
                "status": result.status,
                "delay": result.delay,
                "gone": result.gone,
            }
            for result in results
        ]
        params = {"results": json.dumps(rows), "disable_after": disable_after}
        async with self.pool.connection() as conn:
            await conn.execute(RECORD, params)

    async def release(self, ids: list[int]) -> None:
        """Give back claims never attempted (their attempt count with them)."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE webhook_deliveries SET locked_until = NULL, attempts = attempts - 1"
                " WHERE id = ANY(%(ids)s) AND status = 'pending'",
                {"ids": ids},
            )

    async def seconds_to_next(self) -> float | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(SECONDS_TO_NEXT)).fetchone()
        return None if row is None or row[0] is None else float(row[0])

    async def retry(self, webhook_id: uuid.UUID, delivery_id: int) -> str:
        """'queued', 'pending' (nothing to do yet) or 'missing'."""
        params = {"id": delivery_id, "webhook_id": webhook_id}
        if await self._first(RETRY, params) == 1:
            return "queued"
        exists = await self._first(
            "SELECT count(*) FROM webhook_deliveries WHERE id = %(id)s"
            " AND webhook_id = %(webhook_id)s",
            params,
        )
        return "pending" if exists else "missing"

    async def replay(self, webhook_id: uuid.UUID, after: int) -> int:
        """Queue again the subscription's events after ``after`` (those pending are on their
        way already)."""
        params = {"webhook_id": webhook_id, "after": after}
        return await self._first(REPLAY, params)

    async def ping(self, webhook_id: uuid.UUID, payload: dict[str, Any]) -> int:
        params = {
            "webhook_id": webhook_id,
            "event_id": payload["id"],
            "payload": json.dumps(payload),
        }
        return await self._first(PING, params)

    async def list(
        self, webhook_id: uuid.UUID, *, status: str | None, before: int | None, limit: int
    ) -> list[dict[str, Any]]:
        params = {"webhook_id": webhook_id, "status": status, "before": before, "limit": limit}
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(LIST, params)
            return await cur.fetchall()

    async def _first(self, statement: str, params: dict[str, Any]) -> int:
        """The first column of the first row: a count, or the id just inserted."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(statement, params)).fetchone()
        return int(row[0]) if row else 0
