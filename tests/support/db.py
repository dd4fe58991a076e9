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
