"""A CommandRunner on a real pool, as one process of Sluice would have it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg_pool import AsyncConnectionPool

from app.journal.commands import CommandRunner
from app.journal.repository import Journal
from app.journal.settings import CommandSettings
from app.sdk.service import Service


@asynccontextmanager
async def runner_on(
    database_url: str, service: Service, settings: CommandSettings | None = None, pool_size: int = 4
) -> AsyncIterator[CommandRunner]:
    pool = AsyncConnectionPool(
        database_url, min_size=1, max_size=pool_size, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    try:
        yield CommandRunner(service, Journal(pool), settings or CommandSettings())
    finally:
        await pool.close()
