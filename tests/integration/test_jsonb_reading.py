"""jsonb read through Sluice's pool parses exactly as the standard library would."""

from __future__ import annotations

import json

import pytest
from psycopg_pool import AsyncConnectionPool

from app.db import jsonb

DOCUMENTS = [
    {"spo2": 96, "temperature": 37.2, "on_oxygen": False, "note": None},
    {"big": 12345678901234567890123456789, "small": -1e-300, "exp": 1.5e300},
    {"text": 'Zoë — 体温 \u2028 "quoted" \\ tab\t', "nested": [[1, [2, [3]]], {"a": {}}]},
    [1, 2.5, "x", True, None],
    "just a string",
    {"huge": 1e400},  # beyond float: both parsers read inf
]


@pytest.mark.parametrize("document", DOCUMENTS, ids=range(len(DOCUMENTS)))
async def test_jsonb_reads_as_the_standard_parser_does(database_url: str, document: object) -> None:
    text = json.dumps(document) if document != {"huge": 1e400} else '{"huge": 1e400}'
    pool = AsyncConnectionPool(database_url, min_size=1, configure=jsonb.configure, open=False)
    await pool.open(wait=True)
    try:
        async with pool.connection() as conn:
            row = await (
                await conn.execute("SELECT %s::jsonb, %s::json, %s::jsonb::text", [text] * 3)
            ).fetchone()
    finally:
        await pool.close()
    assert row is not None
    assert row[0] == json.loads(row[2]), "jsonb (as PostgreSQL prints it) parsed differently"
    assert row[1] == json.loads(text), "json (kept as sent) parsed differently"
