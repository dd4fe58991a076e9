"""What a lost database looks like from Python, so every worker and route tells an outage
(wait, back off, answer 503) from a bug (record it, show it) the same way."""

from __future__ import annotations

import psycopg
import psycopg_pool

OUTAGE_ERRORS: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    psycopg_pool.PoolTimeout,
    OSError,
)
