"""Alembic environment: Sluice's tables (app/schema.py), or a service's own.

Run from code (app/db/migrate.py) the config carries the branch being worked on: a service's
revisions compare only the service's tables with the database, and the platform's only the
platform's. Either way a table the target does not declare is left out of the comparison, so
autogenerate never proposes dropping what another history owns.
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import MetaData, create_engine, pool

from app.schema import metadata as platform_metadata

config = context.config
if config.config_file_name and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name)

branch = config.attributes.get("branch")
target: MetaData = branch.metadata if branch is not None else platform_metadata


def owned(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """Compare only the target's own tables (and what hangs off them)."""
    if type_ == "table":
        return name in target.tables
    table = getattr(obj, "table", None)
    return table is None or table.name in target.tables


def database_url() -> str:
    url = config.get_main_option("sqlalchemy.url")
    if url:
        return url
    from app.db.runtime import resolve_database_url
    from app.db.urls import sqlalchemy_url
    from app.settings import get_settings

    return sqlalchemy_url(resolve_database_url(get_settings().database))


def run_migrations_offline() -> None:
    context.configure(
        url=database_url(), target_metadata=target, literal_binds=True, include_object=owned
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    engine = create_engine(database_url(), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target,
            compare_type=True,
            include_object=owned,
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
