"""Reading a view's rows: equality filters on declared columns, declared sort keys, paging.

Only declared columns reach SQL, and always as identifiers; values are always parameters.
The key column closes every ORDER BY, so pages are stable however many rows tie.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from sqlmodel import SQLModel

from app.sdk.view import View


class BadSort(ValueError):
    pass


@dataclass(frozen=True)
class RowQuery:
    filters: dict[str, Any] = field(default_factory=dict)
    sort: tuple[str, ...] = ()
    limit: int = 100
    offset: int = 0


def sort_pattern(view: View) -> str:
    """The ?sort= grammar parse_sort accepts, exactly, for the OpenAPI document."""
    columns = _sortable(view)
    key = "-?(?:" + "|".join(re.escape(column) for column in columns) + ")"
    return f"^(?:{key}(?:,{key}){{0,{len(columns) - 1}}})?$"


def parse_sort(view: View, text: str | None) -> tuple[str, ...]:
    """``"ward,-score"`` → checked against the view's declared sort columns."""
    if not text:
        return ()
    keys = tuple(text.split(","))
    allowed = _sortable(view)
    if len(keys) > len(allowed):  # more would repeat a column: no use, and no bound
        raise BadSort(f"at most {len(allowed)} sort keys, one per sortable column")
    for key in keys:
        if key.removeprefix("-") not in allowed:
            column = key.removeprefix("-")
            raise BadSort(f"cannot sort by {column!r}; sortable: {sorted(allowed)}")
    return keys


def _sortable(view: View) -> list[str]:
    return [*view.sort, view.key_column]


class ViewQueries:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def rows(self, view: View, query: RowQuery) -> list[SQLModel]:
        where = [sql.SQL("{} = %s").format(sql.Identifier(column)) for column in query.filters]
        order = [
            sql.SQL("{} DESC" if key.startswith("-") else "{}").format(
                sql.Identifier(key.lstrip("-"))
            )
            for key in query.sort
        ]
        order.append(sql.Identifier(view.key_column))
        statement = sql.SQL("SELECT * FROM {} {} ORDER BY {} LIMIT %s OFFSET %s")
        statement = statement.format(
            sql.Identifier(view.table.name),
            sql.SQL("WHERE ") + sql.SQL(" AND ").join(where) if where else sql.SQL(""),
            sql.SQL(", ").join(order),
        )
        params = [*query.filters.values(), query.limit, query.offset]
        return await self._fetch(view, statement, params)

    async def row(self, view: View, key: Any) -> SQLModel | None:
        statement = sql.SQL("SELECT * FROM {} WHERE {} = %s").format(
            sql.Identifier(view.table.name), sql.Identifier(view.key_column)
        )
        found = await self._fetch(view, statement, [key])
        return found[0] if found else None

    async def _fetch(
        self, view: View, statement: sql.Composed, params: list[Any]
    ) -> list[SQLModel]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(statement, params)
            return [view.row_type.model_validate(row) for row in await cursor.fetchall()]
