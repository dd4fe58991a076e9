"""Alembic: upgrade from empty, no drift from the SQLModel metadata, downgrade to base."""

from __future__ import annotations

import psycopg
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, pool

from app.db.migrate import downgrade, upgrade
from app.db.urls import sqlalchemy_url
from app.schema import metadata


def tables(url: str) -> set[str]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        ).fetchall()
    return {name for (name,) in rows}


def test_upgrade_from_empty_matches_the_models_and_downgrades(empty_database_url: str) -> None:
    assert tables(empty_database_url) == set()
    upgrade(empty_database_url)
    assert {"events", "outbox", "command_log", "snapshots", "alembic_version"} <= tables(
        empty_database_url
    )

    engine = create_engine(sqlalchemy_url(empty_database_url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        drift = compare_metadata(context, metadata)
    engine.dispose()
    assert drift == [], f"models and migrations disagree: {drift}"

    downgrade(empty_database_url)
    assert tables(empty_database_url) == {"alembic_version"}


def test_upgrade_twice_is_a_no_op(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    upgrade(empty_database_url)
    assert "events" in tables(empty_database_url)
