"""A view's table in PostgreSQL: created when missing, shadowed for a rebuild, swapped in.

A service's view tables belong to the service's own migration history (``Service(...,
migrations=folder)``; ``migrations_branch``). A missing table is created from the SQLModel
declaration (and logged), so a new service runs before its first migration is written.
"""

from __future__ import annotations

import logging
from pathlib import Path

from psycopg import AsyncConnection, sql
from sqlalchemy import Index, MetaData, Table, UniqueConstraint
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateIndex, CreateTable

from app.db.migrate import Branch
from app.sdk.service import Service
from app.sdk.view import View

log = logging.getLogger("sluice.views")

DIALECT = postgresql.dialect()  # type: ignore[no-untyped-call]
SHADOW_SUFFIX = "__rebuild"


def shadow_name(name: str) -> str:
    return f"{name[: 63 - len(SHADOW_SUFFIX)]}{SHADOW_SUFFIX}"


def service_tables(service: Service) -> MetaData:
    """The tables a service owns: its views'."""
    owned = MetaData()
    for view in service.view_types.values():
        view.table.to_metadata(owned)
    return owned


def migrations_branch(service: Service) -> Branch | None:
    """The service's own migration history, if it keeps one."""
    if service.migrations is None:
        return None
    return Branch(service.name, Path(service.migrations), service_tables(service))


async def table_exists(conn: AsyncConnection, name: str) -> bool:
    row = await (await conn.execute("SELECT to_regclass(%s) IS NOT NULL", [name])).fetchone()
    return bool(row and row[0])


async def ensure_table(conn: AsyncConnection, view: View) -> None:
    if await table_exists(conn, view.table.name):
        return
    log.warning("view %s: creating its table %s (no migration made it)", view.name, view.table.name)
    await _create(conn, view.table)


async def create_shadow(conn: AsyncConnection, view: View) -> str:
    """A fresh, empty copy of the view's table (indexes renamed: their names are global)."""
    name = shadow_name(view.table.name)
    await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))
    copy = view.table.to_metadata(MetaData(), name=name)
    for item in (*copy.indexes, *copy.constraints):
        if isinstance(item, Index | UniqueConstraint) and isinstance(item.name, str):
            item.name = shadow_name(item.name)
    await _create(conn, copy)
    return name


async def drop_shadow(conn: AsyncConnection, view: View) -> None:
    name = shadow_name(view.table.name)
    await conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))


async def swap_in_shadow(conn: AsyncConnection, view: View) -> None:
    """Replace the live table by the shadow, names and all. Run inside a transaction: readers
    wait on the live table's lock for the moment it takes, then read the new table."""
    live, shadow = view.table.name, shadow_name(view.table.name)
    ident = sql.Identifier
    await conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(ident(live)))
    await conn.execute(sql.SQL("DROP TABLE {}").format(ident(live)))
    await conn.execute(sql.SQL("ALTER TABLE {} RENAME TO {}").format(ident(shadow), ident(live)))
    await conn.execute(
        sql.SQL("ALTER TABLE {} RENAME CONSTRAINT {} TO {}").format(
            ident(live), ident(f"{shadow}_pkey"), ident(f"{live}_pkey")
        )
    )
    for item in (*view.table.indexes, *view.table.constraints):
        if isinstance(item, Index | UniqueConstraint) and isinstance(item.name, str):
            await conn.execute(
                sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                    ident(shadow_name(item.name)), ident(item.name)
                )
            )


async def _create(conn: AsyncConnection, table: Table) -> None:
    await conn.execute(str(CreateTable(table).compile(dialect=DIALECT)))
    for index in table.indexes:
        await conn.execute(str(CreateIndex(index).compile(dialect=DIALECT)))
