"""A service defined only in the tests runs through the same machinery (SLUICE_SERVICE)."""

from __future__ import annotations

import httpx

from app.main import create_app
from app.settings import Settings


async def test_bank_service_runs_over_http(database_url: str, settings: Settings) -> None:
    bank_settings = settings.model_copy(update={"service": "tests.support.bank:service"})
    app = create_app(bank_settings, database_url=database_url)
    paths = set(app.openapi()["paths"])
    assert "/entities/account/{entity_id}/withdraw" in paths
    assert not any("patient" in path for path in paths)

    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bank.test") as http:
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

    with pytest.raises(TypeError, match="not a sluice Service"):
        create_app(Settings(service="tests.support.bank:account"))
    with pytest.raises(ValueError, match="module:attribute"):
        create_app(Settings(service="tests.support.bank"))
