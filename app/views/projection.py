"""Applying events to a view's table: in memory first, then one upsert and one delete.

Handlers are pure, so a batch of events becomes: load the rows they are about (those not
already in memory), fold each event into its row, write every touched row once. The caller
owns the transaction, which also moves the checkpoint — the exactly-once effect.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping, Sequence
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from sqlmodel import SQLModel

from app.relay.log import LoggedEvent
from app.sdk.view import View

RowCache = MutableMapping[Any, SQLModel | None]
Touched = dict[Any, SQLModel | None]  # the rows a batch wrote, by key (None: deleted)


class HandlerError(Exception):
    """A view handler raised (or returned nonsense) on the event at ``seq``."""

    def __init__(self, seq: int, error: BaseException) -> None:
        super().__init__(f"seq {seq}: {error}")
        self.seq = seq
        self.error = error


# Two writers of one table (partitions of a topic, in different processes) take a row's key
# lock before reading it, in key order (no deadlock), for the rest of their transaction.
LOCK_KEYS = """
SELECT count(pg_advisory_xact_lock(hashtextextended(k, %(table)s)))
FROM (SELECT unnest(%(keys)s::text[]) AS k ORDER BY 1) AS keys
"""


class Projection:
    def __init__(self, view: View, *, lock_keys: bool = False) -> None:
        self.view = view
        self.lock_keys = lock_keys
        self.columns = list(view.table.columns.keys())
        self.key_type = view.table.c[view.key_column].type.python_type

    async def apply(
        self, conn: AsyncConnection, table: str, rows: RowCache, events: Sequence[LoggedEvent]
    ) -> int:
        """Fold ``events`` into ``table`` through ``rows`` (a cache of committed rows, which
        this updates in place); returns how many rows were written."""
        keyed = [(self._key(logged), logged) for logged in events]
        if self.lock_keys and keyed:
            keys = sorted({str(key) for key, _ in keyed})
            table_seed = int.from_bytes(table.encode()[:8].ljust(8, b"\0"), "big", signed=True)
            await conn.execute(LOCK_KEYS, {"keys": keys, "table": table_seed})
        await self._load(conn, table, rows, {key for key, _ in keyed if key not in rows})
        touched = self._fold_all(rows, keyed)
        for statement, params in self.writes(table, touched):
            await conn.execute(statement, params)
        return len(touched)

    def fold_in_memory(self, rows: RowCache, events: Sequence[LoggedEvent]) -> Touched | None:
        """The rows ``events`` change, folded into ``rows`` in place; None (and ``rows``
        untouched) when a row they are about is not in memory: then ``apply`` loads it."""
        keyed = [(self._key(logged), logged) for logged in events]
        if any(key not in rows for key, _ in keyed):
            return None
        return self._fold_all(rows, keyed)

    def writes(
        self, table: str, touched: Touched, guard: sql.Composable | None = None
    ) -> list[tuple[sql.Composable, dict[str, Any]]]:
        """The statements that write ``touched`` rows (None: delete it), each with its
        parameters; with ``guard``, each writes only where that condition holds."""
        upserts = [row.model_dump_json() for row in touched.values() if row is not None]
        deletes = [key for key, row in touched.items() if row is None]
        only_if = sql.SQL("") if guard is None else sql.SQL(" AND {}").format(guard)
        statements: list[tuple[sql.Composable, dict[str, Any]]] = []
        if upserts:
            rows = "[" + ",".join(upserts) + "]"
            statements.append((self._upsert(table, only_if), {"view_rows": rows}))
        if deletes:
            query = sql.SQL("DELETE FROM {} WHERE {} = ANY(%(view_keys)s){}").format(
                sql.Identifier(table), sql.Identifier(self.view.key_column), only_if
            )
            statements.append((query, {"view_keys": deletes}))
        return statements

    def _fold_all(self, rows: RowCache, keyed: list[tuple[Any, LoggedEvent]]) -> Touched:
        touched: Touched = {}
        for key, logged in keyed:
            before = rows[key]
            new = self._fold(before, logged, key)
            if new is None and before is None and key not in touched:
                continue  # no row, still no row: nothing to write
            rows[key] = touched[key] = new
        return touched

    def _key(self, logged: LoggedEvent) -> Any:
        handler = self.view.handlers[type(logged.event)]
        try:
            key = handler.key(logged.event, logged.meta)
            return key if isinstance(key, self.key_type) else self.key_type(key)
        except Exception as error:
            raise HandlerError(logged.meta.seq, error) from error

    def _fold(self, row: SQLModel | None, logged: LoggedEvent, key: Any) -> SQLModel | None:
        handler = self.view.handlers[type(logged.event)]
        try:
            new = handler.handler(row, logged.event, logged.meta)
        except Exception as error:
            raise HandlerError(logged.meta.seq, error) from error
        if new is None:
            return None
        if not isinstance(new, self.view.row_type):
            problem = TypeError(f"{handler.handler.__name__} returned {type(new).__name__}")
            raise HandlerError(logged.meta.seq, problem)
        if getattr(new, self.view.key_column) != key:
            problem = ValueError(f"{handler.handler.__name__} changed the row's key to {key!r}")
            raise HandlerError(logged.meta.seq, problem)
        return new

    async def _load(
        self, conn: AsyncConnection, table: str, rows: RowCache, keys: Iterable[Any]
    ) -> None:
        wanted = list(keys)
        if not wanted:
            return
        query = sql.SQL("SELECT * FROM {} WHERE {} = ANY(%s)").format(
            sql.Identifier(table), sql.Identifier(self.view.key_column)
        )
        async with conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(query, [wanted])
            for stored in await cursor.fetchall():
                row = self.view.row_type.model_validate(stored)
                rows[stored[self.view.key_column]] = row
        for key in wanted:
            rows.setdefault(key, None)

    def _upsert(self, table: str, only_if: sql.Composable) -> sql.Composed:
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in self.columns)
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
            for c in self.columns
            if c != self.view.key_column
        )
        action = sql.SQL("DO UPDATE SET {}").format(updates) if len(self.columns) > 1 else None
        return sql.SQL(
            "INSERT INTO {table} ({columns}) SELECT {columns}"
            " FROM jsonb_populate_recordset(NULL::{table}, %(view_rows)s::jsonb)"
            " WHERE true{only_if} ON CONFLICT ({key}) {action}"
        ).format(
            table=sql.Identifier(table),
            only_if=only_if,
            columns=columns,
            key=sql.Identifier(self.view.key_column),
            action=action or sql.SQL("DO NOTHING"),
        )
