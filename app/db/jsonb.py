"""Reading jsonb with pydantic-core's parser: about 4x json.loads on event-sized documents.

Every event a consumer or a log reader takes is parsed twice (data and metadata), and again
for each consumer that follows the log: at 1,000 events/s json.loads was a visible share of a
busy process's time. Only Sluice's pool is configured; psycopg's global default is untouched.
"""

from __future__ import annotations

import json
from typing import Any

import pydantic_core
from psycopg import AsyncConnection
from psycopg.types.json import set_json_loads


def loads(data: bytes | str) -> Any:
    try:
        return pydantic_core.from_json(data)
    except ValueError:  # anything it will not read (a number out of float range, say)
        return json.loads(data)


async def configure(conn: AsyncConnection[Any]) -> None:
    set_json_loads(loads, conn)
