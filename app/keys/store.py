"""Keys in PostgreSQL: create, list, revoke, look up by hash, seed from the environment.

Every change NOTIFYs ``sluice_keys`` so each process drops what it cached: a revoked key stops
working everywhere within a round trip, not after a cache expires.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.keys.material import key_hash, key_hint, new_key
from app.keys.scopes import grants

KEYS_CHANNEL = "sluice_keys"
PUBLIC_COLUMNS = "id, hint, name, scopes, rate_limit_per_second, origin, created_at, revoked_at"

CREATE = f"""
WITH created AS (
    INSERT INTO api_keys (id, key_hash, hint, name, scopes, rate_limit_per_second, origin)
    VALUES (%(id)s, %(key_hash)s, %(hint)s, %(name)s, %(scopes)s, %(rate_limit)s, %(origin)s)
    ON CONFLICT (key_hash) DO UPDATE SET scopes = excluded.scopes
        WHERE api_keys.revoked_at IS NULL  -- a revoked key stays revoked, seeded again or not
    RETURNING {PUBLIC_COLUMNS}
)
SELECT *, pg_notify('{KEYS_CHANNEL}', '') AS _ FROM created
"""
LIST = f"SELECT {PUBLIC_COLUMNS} FROM api_keys ORDER BY created_at, id"
LIST_ACTIVE = f"SELECT {PUBLIC_COLUMNS} FROM api_keys WHERE revoked_at IS NULL ORDER BY created_at"
REVOKE = f"""
UPDATE api_keys SET revoked_at = now()
WHERE id = %(id)s AND revoked_at IS NULL
RETURNING {PUBLIC_COLUMNS}, pg_notify('{KEYS_CHANNEL}', '') AS _
"""
# The environment's admin key replaces the one it seeded before: changing SLUICE_ADMIN_KEY
# must retire the old value, or every key ever put in the environment would stay valid.
RETIRE_OTHER_SEEDS = f"""
UPDATE api_keys SET revoked_at = now()
WHERE origin = 'env' AND key_hash <> %(key_hash)s AND revoked_at IS NULL
RETURNING id, pg_notify('{KEYS_CHANNEL}', '') AS _
"""
LOOKUP = """
SELECT id, name, scopes, rate_limit_per_second FROM api_keys
WHERE key_hash = %(key_hash)s AND revoked_at IS NULL
"""
ANY_ACTIVE = "SELECT EXISTS (SELECT FROM api_keys WHERE revoked_at IS NULL)"
ACTIVE_BY_ID = """
SELECT id, name, scopes, rate_limit_per_second FROM api_keys
WHERE id = ANY(%(ids)s) AND revoked_at IS NULL
"""


@dataclass(frozen=True)
class Principal:
    """Who is calling: the key's id and name, and what it may do."""

    key_id: uuid.UUID
    name: str
    scopes: frozenset[str]
    rate_limit_per_second: float | None

    def allows(self, scope: str) -> bool:
        return grants(self.scopes, scope)


@dataclass(frozen=True)
class KeyInfo:
    """A key as lists show it: everything but the key (never stored) and its hash."""

    id: uuid.UUID
    hint: str
    name: str
    scopes: list[str]
    rate_limit_per_second: float | None
    origin: str
    created_at: datetime
    revoked_at: datetime | None


def _create_params(
    key: str, name: str, scopes: tuple[str, ...], rate_limit: float | None, origin: str
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "key_hash": key_hash(key),
        "hint": key_hint(key),
        "name": name,
        "scopes": list(scopes),
        "rate_limit": rate_limit,
        "origin": origin,
    }


def _principal(row: dict[str, Any]) -> Principal:
    return Principal(row["id"], row["name"], frozenset(row["scopes"]), row["rate_limit_per_second"])


def _info(row: dict[str, Any]) -> KeyInfo:
    return KeyInfo(**{k: v for k, v in row.items() if k != "_"})


class KeyStore:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def create(
        self,
        name: str,
        scopes: tuple[str, ...],
        *,
        rate_limit: float | None = None,
        origin: str = "api",
    ) -> tuple[KeyInfo, str]:
        """A new key; it is returned once, here only."""
        key = new_key()
        params = _create_params(key, name, scopes, rate_limit, origin)
        async with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(CREATE, params)
            row = await cursor.fetchone()
        assert row is not None
        return _info(row), key

    async def seed(self, name: str, scopes: tuple[str, ...], key: str) -> KeyInfo | None:
        """Store the environment's key (retiring the one it seeded before); None if this
        very key was revoked: seeding never brings a revoked key back."""
        params = _create_params(key, name, scopes, None, "env")
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute(RETIRE_OTHER_SEEDS, {"key_hash": params["key_hash"]})
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(CREATE, params)
            row = await cursor.fetchone()
        return None if row is None else _info(row)

    async def list(self) -> list[KeyInfo]:
        async with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(LIST)
            return [_info(row) for row in await cursor.fetchall()]

    async def revoke(self, key_id: uuid.UUID) -> KeyInfo | None:
        async with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(REVOKE, {"id": key_id})
            row = await cursor.fetchone()
        return _info(row) if row else None

    async def lookup(self, key: str) -> Principal | None:
        async with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(LOOKUP, {"key_hash": key_hash(key)})
            row = await cursor.fetchone()
        return None if row is None else _principal(row)

    async def active(self, key_ids: list[uuid.UUID]) -> dict[uuid.UUID, Principal]:
        """Of these keys, the ones not revoked, as they are now."""
        async with self.pool.connection() as conn:
            cursor = conn.cursor(row_factory=dict_row)
            await cursor.execute(ACTIVE_BY_ID, {"ids": key_ids})
            return {row["id"]: _principal(row) for row in await cursor.fetchall()}

    async def any_active(self) -> bool:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(ANY_ACTIVE)
            row = await cursor.fetchone()
        return bool(row and row[0])


class SyncKeyStore:
    """The same operations for the CLI, on one plain connection."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo

    def create(
        self, name: str, scopes: tuple[str, ...], *, rate_limit: float | None = None
    ) -> tuple[KeyInfo, str]:
        key = new_key()
        with psycopg.connect(self.conninfo, autocommit=True, row_factory=dict_row) as conn:
            row = conn.execute(
                CREATE, _create_params(key, name, scopes, rate_limit, "cli")
            ).fetchone()
        assert row is not None
        return _info(row), key

    def list(self, *, include_revoked: bool = False) -> list[KeyInfo]:
        with psycopg.connect(self.conninfo, autocommit=True, row_factory=dict_row) as conn:
            rows = conn.execute(LIST if include_revoked else LIST_ACTIVE).fetchall()
        return [_info(row) for row in rows]

    def revoke(self, key_id: uuid.UUID) -> KeyInfo | None:
        with psycopg.connect(self.conninfo, autocommit=True, row_factory=dict_row) as conn:
            row = conn.execute(REVOKE, {"id": key_id}).fetchone()
        return _info(row) if row else None
