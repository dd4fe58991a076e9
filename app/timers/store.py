"""The timers table as the timer workers and actions use it: schedule, claim, finish."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.timers.sql import CANCEL, CLAIM, DONE, NEXT_DUE, RELEASE, RETRY_LATER, SCHEDULE


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

    async def release(self, timer_ids: list[uuid.UUID]) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(RELEASE, {"timer_ids": timer_ids})

    async def retry_later(self, timer_id: uuid.UUID, error: str, delay: float) -> None:
        params = {"timer_id": timer_id, "error": error[:4000], "delay": delay}
        async with self.pool.connection() as conn:
            await conn.execute(RETRY_LATER, params)

    async def seconds_to_next(self) -> float | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(NEXT_DUE)).fetchone()
        return None if row is None or row[0] is None else float(row[0])
