"""Assertions on what the database holds."""

from __future__ import annotations

import psycopg
from psycopg import sql


def table_counts(conn: psycopg.Connection) -> dict[str, int]:
    counts = {}
    for table in ("events", "outbox", "command_log", "snapshots"):
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
        counts[table] = conn.execute(query).fetchone()[0]
    return counts


async def settled_counts(conn: psycopg.Connection, seconds: float = 10) -> dict[str, int]:
    """Table counts once the relay has emptied the outbox, so they only change by a write."""
    import asyncio
    import time

    deadline = time.monotonic() + seconds
    while conn.execute("SELECT count(*) FROM outbox").fetchone() != (0,):
        assert time.monotonic() < deadline, "the outbox did not drain"
        await asyncio.sleep(0.02)
    return table_counts(conn)
