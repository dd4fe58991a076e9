"""The timers table: scheduling outside an append (actions), claiming, and finishing.

Claims are leases, not open transactions: a worker marks due timers ``locked_until`` a while
ahead with ``FOR UPDATE SKIP LOCKED`` (so processes share the work without waiting on each
other) and commits; firing happens outside any transaction, then the row is deleted by its
``timer_id``. A worker that dies mid-way leaves a lease that expires, and the timer fires
again — harmlessly, because its command carries the idempotency key ``timer:{timer_id}``.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.relay.sql import TIMER_CHANNEL

SCHEDULE = f"""
WITH scheduled AS (
    INSERT INTO timers
        (owner, key, timer_id, entity_type, entity_id, command, body, metadata, due_at)
    VALUES (%(owner)s, %(key)s, %(timer_id)s, %(entity_type)s, %(entity_id)s, %(command)s,
            %(body)s, %(metadata)s, %(due_at)s)
    ON CONFLICT (owner, key) DO UPDATE
        SET timer_id = excluded.timer_id, entity_type = excluded.entity_type,
            entity_id = excluded.entity_id, command = excluded.command, body = excluded.body,
            metadata = excluded.metadata, due_at = excluded.due_at, attempts = 0,
            locked_until = NULL, last_error = NULL
        WHERE timers.timer_id <> excluded.timer_id
    RETURNING 1
)
SELECT pg_notify('{TIMER_CHANNEL}', '') FROM scheduled
"""

CANCEL = "DELETE FROM timers WHERE owner = %(owner)s AND key = %(key)s"

CLAIM = """
UPDATE timers SET locked_until = now() + make_interval(secs => %(lease)s),
                  attempts = attempts + 1
WHERE (owner, key) IN (
    SELECT owner, key FROM timers
    WHERE due_at <= now() AND (locked_until IS NULL OR locked_until < now())
    ORDER BY due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING timer_id, owner, key, entity_type, entity_id, command, body, metadata, attempts
"""

DONE = "DELETE FROM timers WHERE timer_id = %(timer_id)s"

RETRY_LATER = """
UPDATE timers SET last_error = %(error)s,
                  locked_until = now() + make_interval(secs => %(delay)s)
WHERE timer_id = %(timer_id)s
"""

NEXT_DUE = """
SELECT EXTRACT(EPOCH FROM min(GREATEST(due_at, COALESCE(locked_until, due_at))) - now())
FROM timers
"""


@dataclass(frozen=True)
class DueTimer:
    timer_id: uuid.UUID
    owner: str
    key: str
    entity_type: str
    entity_id: str
    command: str
    body: dict[str, Any]
    metadata: dict[str, Any]
    attempts: int


class TimerStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def schedule(self, row: dict[str, Any]) -> None:
        params = {**row, "body": json.dumps(row["body"]), "metadata": json.dumps(row["metadata"])}
        async with self.pool.connection() as conn:
            await conn.execute(SCHEDULE, params)

    async def cancel(self, owner: str, key: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(CANCEL, {"owner": owner, "key": key})

    async def claim(self, limit: int, lease_seconds: float) -> list[DueTimer]:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(CLAIM, {"limit": limit, "lease": lease_seconds})
            return [DueTimer(*row) for row in await cursor.fetchall()]

    async def done(self, timer_id: uuid.UUID) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(DONE, {"timer_id": timer_id})

    async def retry_later(self, timer_id: uuid.UUID, error: str, delay: float) -> None:
        params = {"timer_id": timer_id, "error": error[:4000], "delay": delay}
        async with self.pool.connection() as conn:
            await conn.execute(RETRY_LATER, params)

    async def seconds_to_next(self) -> float | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(NEXT_DUE)).fetchone()
        return None if row is None or row[0] is None else float(row[0])
