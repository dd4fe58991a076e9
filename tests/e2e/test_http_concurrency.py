"""Concurrency over real HTTP: uvicorn on 127.0.0.1, real PostgreSQL."""

from __future__ import annotations

import asyncio

import httpx
import psycopg

from app.main import create_app
from app.settings import Settings
from tests.support.auth import AUTH_HEADERS
from tests.support.db import table_counts
from tests.support.relay import assert_log_is_gapless, sequenced
from tests.support.servers import uvicorn_in_thread
from tests.support.ward import ADMIT, vitals


async def test_fifty_concurrent_commands_to_one_entity(
    settings: Settings, database_url: str, db: psycopg.Connection
) -> None:
    with uvicorn_in_thread(create_app(settings, database_url=database_url)) as url:
        async with httpx.AsyncClient(headers=AUTH_HEADERS, base_url=url, timeout=30) as http:
            assert (await http.post("/entities/patient/p1/admit", json=ADMIT)).status_code == 200
            responses = await asyncio.gather(
                *(
                    http.post("/entities/patient/p1/record-vitals", json=vitals(pulse=60 + i))
                    for i in range(50)
                )
            )
    assert [r.status_code for r in responses] == [200] * 50
    assert sorted(r.json()["version"] for r in responses) == list(range(2, 52))
    stored = db.execute(
        "SELECT version, data->>'pulse' FROM events WHERE entity_id = 'p1' ORDER BY version"
    ).fetchall()
    assert [version for version, _ in stored] == list(range(1, 52))
    assert sorted(int(pulse) for _, pulse in stored[1:]) == [60 + i for i in range(50)]
    await sequenced(database_url, 51)
    assert_log_is_gapless(db, 51)


async def test_racing_requests_with_one_key_on_two_servers_append_once(
    settings: Settings, database_url: str, db: psycopg.Connection
) -> None:
    """Two processes' worth of servers, one database: the key is honoured across them."""
    one = uvicorn_in_thread(create_app(settings, database_url=database_url))
    two = uvicorn_in_thread(create_app(settings, database_url=database_url))
    with one as url_one, two as url_two:
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as http:
            await http.post(f"{url_one}/entities/patient/p1/admit", json=ADMIT)
            for round_ in range(10):
                key = {"Idempotency-Key": f"race-{round_}"}
                body = vitals(pulse=70 + round_)
                first, second = await asyncio.gather(
                    *(
                        http.post(
                            f"{url}/entities/patient/p1/record-vitals", json=body, headers=key
                        )
                        for url in (url_one, url_two)
                    )
                )
                assert (first.status_code, second.status_code) == (200, 200)
                assert first.json() == second.json()
    counts = table_counts(db)
    assert counts["events"] == 1 + 10
    assert counts["command_log"] == 10


async def test_admit_and_discharge_racing_with_one_key_on_two_servers_both_get_the_reply(
    settings: Settings, database_url: str, db: psycopg.Connection
) -> None:
    """The commands whose re-decision is a rejection ("already admitted", "has been
    discharged"): the request that loses the race must still answer the stored reply."""
    one = uvicorn_in_thread(create_app(settings, database_url=database_url))
    two = uvicorn_in_thread(create_app(settings, database_url=database_url))
    with one as url_one, two as url_two:
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as http:
            for round_ in range(15):
                for command, body in (("admit", ADMIT), ("discharge", {})):
                    key = {"Idempotency-Key": f"{command}-{round_}"}
                    path = f"/entities/patient/p{round_}/{command}"
                    first, second = await asyncio.gather(
                        *(
                            http.post(url + path, json=body, headers=key)
                            for url in (url_one, url_two)
                        )
                    )
                    assert (first.status_code, second.status_code) == (200, 200), second.text
                    assert first.json() == second.json()
    patient_events = "SELECT count(*) FROM events WHERE entity_type = 'patient'"
    assert db.execute(patient_events).fetchone() == (15 * 2,)
    our_keys = "SELECT count(*) FROM command_log WHERE key ~ '^(admit|discharge)-'"
    assert db.execute(our_keys).fetchone() == (15 * 2,)
