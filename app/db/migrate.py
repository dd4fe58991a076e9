"""Run the Alembic migrations from code, wherever the package is installed."""

from __future__ import annotations

from pathlib import Path

import psycopg
from alembic import command
from alembic.config import Config

import migrations
from app.db.urls import libpq_url, sqlalchemy_url

MIGRATION_LOCK = 0x51_1CE_0001  # any fixed bigint, unique to Sluice's migrations


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(Path(migrations.__file__).parent))
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(database_url).replace("%", "%%"))
    config.attributes["configure_logging"] = False
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Upgrade, holding an advisory lock so processes starting together migrate one at a time."""
    with psycopg.connect(libpq_url(database_url), autocommit=True) as lock_conn:
        lock_conn.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])
        try:
            command.upgrade(alembic_config(database_url), revision)
        finally:
            lock_conn.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)
