"""A service defined only in the tests runs through the same machinery (SLUICE_SERVICE)."""

from __future__ import annotations

import httpx

from app.main import create_app
from app.settings import Settings
from tests.support.auth import AUTH_HEADERS


async def test_bank_service_runs_over_http(database_url: str, settings: Settings) -> None:
    bank_settings = settings.but(service="tests.support.bank:service")
    app = create_app(bank_settings, database_url=database_url)
    paths = set(app.openapi()["paths"])
    assert "/entities/account/{entity_id}/withdraw" in paths
    assert not any("patient" in path for path in paths)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            headers=AUTH_HEADERS, transport=transport, base_url="http://bank.test"
        ) as http:
            opened = await http.post("/entities/account/a1/open", json={"owner": "Grace"})
            assert opened.json()["events"][0]["type"] == "account.AccountOpened"
            await http.post("/entities/account/a1/deposit", json={"amount": 30})
            short = await http.post("/entities/account/a1/withdraw", json={"amount": 50})
            assert short.status_code == 409
            assert short.json()["rejection"] == {"balance": 30}
            paid = await http.post("/entities/account/a1/withdraw", json={"amount": 20})
            assert paid.json()["reply"] == {"balance": 10}
            state = (await http.get("/entities/account/a1")).json()
    assert state["state"] == {"open": True, "owner": "Grace", "currency": "EUR", "balance": 10}
    assert state["version"] == 3


def test_service_path_must_name_a_service() -> None:
    import pytest

    from app.config import ConfigurationError

    with pytest.raises(ConfigurationError, match="is a EventSourcedEntity, not a sluice Service"):
        create_app(Settings(service="tests.support.bank:account"))
    with pytest.raises(ConfigurationError, match="expected 'module:attribute'"):
        create_app(Settings(service="tests.support.bank"))
    with pytest.raises(ConfigurationError, match=r"no module 'tests\.support\.nothing' in "):
        create_app(Settings(service="tests.support.nothing:service"))
    with pytest.raises(ConfigurationError, match="has no 'nothing'"):
        create_app(Settings(service="tests.support.bank:nothing"))


async def test_a_crashing_handler_is_a_500_problem_and_stores_nothing(
    database_url: str, settings: Settings
) -> None:
    import psycopg

    bank_settings = settings.but(service="tests.support.bank:service")
    app = create_app(bank_settings, database_url=database_url)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            headers=AUTH_HEADERS, transport=transport, base_url="http://bank.test"
        ) as http:
            await http.post("/entities/account/a1/open", json={"owner": "Grace"})
            crashed = await http.post("/entities/account/a1/audit", json={})
    assert crashed.status_code == 500
    assert crashed.headers["content-type"] == "application/problem+json"
    assert "bug in the audit handler" not in crashed.text  # internals stay in the log
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT count(*) FROM events").fetchone() == (1,)


async def test_command_routes_work_without_the_fast_path(
    settings: Settings, database_url: str
) -> None:
    """The FastAPI route behind each documented command is a working fallback, not a stub."""
    bank_settings = settings.but(service="tests.support.bank:service")
    app = create_app(bank_settings, database_url=database_url, command_fast_path=False)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            headers=AUTH_HEADERS, transport=transport, base_url="http://bank.test"
        ) as http:
            opened = await http.post(
                "/entities/account/a1/open",
                json={"owner": "Grace"},
                headers={"Idempotency-Key": "k"},
            )
            again = await http.post(
                "/entities/account/a1/open",
                json={"owner": "Grace"},
                headers={"Idempotency-Key": "k"},
            )
            invalid = await http.post("/entities/account/a1/deposit", json={"amount": -1})
            refused = await http.post("/entities/account/a1/withdraw", json={"amount": 5})
    assert opened.status_code == 200 and opened.headers["etag"] == '"1"'
    assert again.json() == opened.json() and again.headers["idempotent-replayed"] == "true"
    assert invalid.status_code == 422 and invalid.json()["errors"][0]["pointer"] == "#/amount"
    assert refused.status_code == 409
