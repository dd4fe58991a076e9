"""The ward and outreach as real `sluice serve` processes, each on its own database, for the
fault tests of services talking through events (kill -9, restarts, two consumer processes)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import psycopg

from tests.support.servers import SluiceProcess, free_port
from tests.support.system import stream_key
from tests.support.waiting import eventually

FAST = {
    "SLUICE_LEADER_RETRY_SECONDS": "0.5",
    "SLUICE_CONSUMER_BACKOFF_MAX_SECONDS": "1",
    "SLUICE_RELAY_POLL_SECONDS": "0.2",
    "SLUICE_ACCESS_LOG": "false",
}


class Hospital:
    """Ward processes on one port and database; outreach processes reading the ward."""

    def __init__(
        self,
        tmp_path: Path,
        ward_db: str,
        outreach_db: str,
        page_size: int,
        *,
        ward_env: dict[str, str] | None = None,
        outreach_env: dict[str, str] | None = None,
    ) -> None:
        self.tmp_path = tmp_path
        self.ward_env, self.outreach_env = ward_env or {}, outreach_env or {}
        self.ward_db, self.outreach_db = ward_db, outreach_db
        self.ward_port = free_port()
        self.ward_url = f"http://127.0.0.1:{self.ward_port}"
        self.key = stream_key(ward_db, "outreach", ("streams:read:alerts",))
        self.page_size = page_size
        self.processes: list[SluiceProcess] = []

    def ward(self) -> SluiceProcess:
        env = {**FAST, "DATABASE_URL": self.ward_db, "SLUICE_SERVICE": "app.services.ward:service"}
        return self._start({**env, **self.ward_env}, self.ward_port)

    def outreach(self) -> SluiceProcess:
        env = {
            **FAST,
            "DATABASE_URL": self.outreach_db,
            "SLUICE_SERVICE": "app.services.outreach:service",
            "SLUICE_UPSTREAM_WARD_URL": self.ward_url,
            "SLUICE_UPSTREAM_WARD_KEY": self.key,
            "SLUICE_UPSTREAM_PAGE_SIZE": str(self.page_size),
            "SLUICE_UPSTREAM_WAIT_SECONDS": "5",
        }
        return self._start({**env, **self.outreach_env}, None)

    def _start(self, env: dict[str, str], port: int | None) -> SluiceProcess:
        process = SluiceProcess(env, self.tmp_path, port)
        self.processes.append(process)
        process.wait_ready()
        return process

    def close(self) -> None:
        for process in self.processes:
            process.close()


async def deteriorate(ward: httpx.AsyncClient, patients: range) -> None:
    """Each patient's alert raised at medium risk, then escalated to high: two public events,
    the second of which calls outreach (and counts once in its ward-alerts view)."""

    async def one(n: int) -> None:
        for risk, score in (("medium", 5), ("high", 9)):
            body = {"ward": "W1", "score": score, "risk": risk, "reasons": ["pulse"]}
            sent = await ward.post(f"/entities/alert/p{n}/raise", json=body)
            assert sent.status_code == 200, sent.text

    for start in range(patients.start, patients.stop, 10):
        await asyncio.gather(*(one(n) for n in range(start, min(start + 10, patients.stop))))


async def consumer(http: httpx.AsyncClient, base: str, name: str) -> dict[str, Any]:
    return (await http.get(f"{base}/consumers/{name}")).json()


async def outreach_caught_up(http: httpx.AsyncClient, base: str, head: int) -> None:
    for name in ("alert-callouts", "ward-alerts"):

        async def there(name: str = name) -> dict[str, Any] | None:
            status = await consumer(http, base, name)
            return status if status["checkpoint"] >= head else None

        status = await eventually(there, 60, f"{name} at the ward's head {head}")
        assert status["state"] == "running", status


def each_applied_once(outreach_db: str, patients: int) -> None:
    """The view counted each escalation once; the action sent one command per public event it
    acted on, each under its deterministic key, and each callout was requested once."""
    with psycopg.connect(outreach_db, autocommit=True) as conn:
        rows = conn.execute("SELECT escalations, count(*) FROM view_ward_alerts GROUP BY 1")
        assert dict(rows.fetchall()) == {1: patients}
        requested = conn.execute(
            "SELECT count(*), count(DISTINCT entity_id) FROM events WHERE type = 'CalloutRequested'"
        ).fetchone()
        assert requested == (patients, patients)
        keys = conn.execute(
            "SELECT count(*), count(DISTINCT key) FROM command_log"
            " WHERE key LIKE 'alert-callouts:ward:%%'"
        ).fetchone()
        assert keys == (patients, patients)


def ward_head(ward_db: str) -> int:
    """The seq the ward's log reaches once every committed event is numbered.

    A command answered just before a process stops may still sit in the outbox, unnumbered; the
    next process numbers it. Counting only what has a seq once made a test wait for a head the
    checkpoint then stepped over (a batch ending past it), so the waiting rows count too.
    """
    with psycopg.connect(ward_db, autocommit=True) as conn:
        row = conn.execute(
            "SELECT (SELECT COALESCE(max(seq), 0) FROM events) + (SELECT count(*) FROM outbox)"
        ).fetchone()
        return int(row[0])
