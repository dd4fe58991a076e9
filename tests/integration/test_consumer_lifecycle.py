"""A service changes between deployments: a consumer it no longer declares is retired (shown,
never run, forgettable), and a new one starts where its author said, the log's beginning or now.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import psycopg
import pytest
from sqlalchemy import Column, Integer, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.main import create_app
from app.sdk import Action, EventMeta, Send, Service, View
from app.settings import Settings
from tests.support import ledger
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.bank import Deposit, MoneyDeposited, account
from tests.support.consumers import caught_up, status, wait_for_status
from tests.support.waiting import eventually

BASE = "http://sluice.test"


class TallyRow(SQLModel, table=True):
    __tablename__ = "test_deposit_tally"

    account_id: str = SQLField(sa_column=Column(Text, primary_key=True))
    deposited: int = SQLField(sa_column=Column(Integer, nullable=False))


tally = View("tally", table=TallyRow)  # starts from the beginning: a read model is whole


@tally.handles
def tallied(row: TallyRow | None, event: MoneyDeposited, meta: EventMeta) -> TallyRow:
    return TallyRow(
        account_id=meta.entity_id, deposited=(row.deposited if row else 0) + event.amount
    )


matching = Action("matching", start_from="now")  # no matching for deposits made before it


@matching.handles
def match(event: MoneyDeposited, meta: EventMeta) -> Send | None:
    if meta.entity_id.startswith("match-"):
        return None  # the matched money lands in a match- account, which is not matched again
    return Send("account", f"match-{meta.entity_id}", "deposit", Deposit(amount=event.amount))


BEFORE = Service("bank", entities=[account], views=[ledger.balances, ledger.deposits])
AFTER = Service("bank", entities=[account], views=[ledger.balances, tally], actions=[matching])


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(admin_key=ADMIN_KEY, data_dir=tmp_path / "data", relay_poll_seconds=0.2)


class Deployment:
    """One version of the service running on the test database."""

    def __init__(self, settings: Settings, service: Service, database_url: str) -> None:
        self.app = create_app(settings, service=service, database_url=database_url)

    async def __aenter__(self) -> httpx.AsyncClient:
        self._lifespan = self.app.router.lifespan_context(self.app)
        await self._lifespan.__aenter__()
        self._http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=self.app), base_url=BASE, headers=AUTH_HEADERS
        )
        return self._http

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()
        await self._lifespan.__aexit__(*exc)


async def post(http: httpx.AsyncClient, path: str, body: dict) -> int:
    """Run a command; its (first) event's seq, once the sequencer has given it one."""
    response = await http.post(f"/entities/account/{path}", json=body)
    assert response.status_code == 200, response.text
    event_id = response.json()["events"][0]["event_id"]
    entity_id = path.split("/")[0]

    async def seq() -> int | None:
        events = (await http.get(f"/entities/account/{entity_id}/events")).json()["events"]
        return next((e["seq"] for e in events if e["id"] == event_id), None)

    return int(await eventually(seq, 10, "the event sequenced"))


async def handled(http: httpx.AsyncClient, consumer: str, seq: int) -> None:
    await wait_for_status(http, consumer, lambda status: status["checkpoint"] >= seq)


async def test_a_retired_consumer_is_shown_then_forgotten_and_new_ones_start_where_told(
    settings: Settings, database_url: str, db: psycopg.Connection
) -> None:
    async with Deployment(settings, BEFORE, database_url) as http:
        await post(http, "a1/open", {"owner": "Ann"})
        await post(http, "a1/deposit", {"amount": 10})
        await caught_up(http, "deposits")

    async with Deployment(settings, AFTER, database_url) as http:
        retired = await status(http, "deposits")
        assert retired["state"] == "retired" and retired["lag_events"] == 0
        assert {c["name"]: c["state"] for c in (await http.get("/consumers")).json()} == {
            "balances": "running",
            "deposits": "retired",
            "tally": "running",
            "matching": "running",
            "webhook-dispatcher": "running",  # Sluice's own: never retired
        }

        # The new view saw the deposit made before it existed; the action did not act on it.
        await caught_up(http, "tally")
        assert (await http.get("/views/tally/a1")).json()["deposited"] == 10
        await caught_up(http, "matching")
        assert (await http.get("/entities/account/match-a1")).status_code == 404

        await post(http, "match-a1/open", {"owner": "the bank"})
        seq = await post(http, "a1/deposit", {"amount": 7})  # after it started: matched
        await handled(http, "matching", seq)
        await handled(http, "tally", seq)
        assert (await http.get("/entities/account/match-a1")).json()["state"]["balance"] == 7
        assert (await http.get("/views/tally/a1")).json()["deposited"] == 17

        declared = await http.delete("/consumers/balances")
        assert declared.status_code == 409
        assert declared.headers["content-type"] == "application/problem+json"
        assert "retired" in declared.json()["detail"]
        assert (await http.delete("/consumers/deposits")).status_code == 204
        assert (await http.get("/consumers/deposits")).status_code == 404
        assert (await http.delete("/consumers/deposits")).status_code == 404
        left = db.execute("SELECT name FROM checkpoints ORDER BY name").fetchall()
        assert left == [("balances",), ("matching",), ("tally",), ("webhook-dispatcher",)]
        metrics = (await http.get("/metrics")).text
        assert 'consumer="deposits"' not in metrics
