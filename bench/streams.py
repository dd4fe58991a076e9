"""Services that talk through events: how much a service boundary costs.

Two `sluice serve` processes, the ward (A) and outreach (B), each on its own database, B
reading A's public `alerts` stream over HTTP (long poll when caught up).

  * latency: `raise` commands on A's alert entity at --rate commands/s (open loop, each on a
    new patient: one AlertRaised each). For a sample of them, the time from POST sent to the
    row being visible: in A's own `open-alerts` view (local, the baseline), or in B's
    `ward-alerts` view (across the boundary). Both are found the same way: GET the row every
    --poll-ms until it is there, so the polling grain is in both.
  * catch-up: --events public events (AlertRaised then AlertResolved per patient) already in
    A's log. A's `open-alerts` catches up from 0 (local, the baseline), then B's
    `ward-alerts` does (pages of SLUICE_UPSTREAM_PAGE_SIZE over HTTP); events/s of each.

Targets (issue 15): cross-service p99 < 2x the local one; catch-up >= 50 % of the local rate.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg_pool import AsyncConnectionPool

from app.db.migrate import upgrade
from app.journal.repository import Journal, PendingAppend
from app.services.outreach import service as outreach_service
from app.services.ward.alert import AlertRaised, AlertResolved
from app.views.schema import migrations_branch
from bench.database import BenchDatabase, bench_database
from bench.relay import CONNECTIONS, EXPECTED_LATENCY_MS
from bench.report import median, percentile, table
from bench.servers import BENCH_ENV, wrk
from tests.support.auth import AUTH_HEADERS
from tests.support.servers import SluiceProcess, free_port
from tests.support.system import stream_key

ALERTS = Path(__file__).with_name("paced_alerts.lua")
QUIET = {**BENCH_ENV, "SLUICE_ACCESS_LOG": "false", "SLUICE_LOG_LEVEL": "WARNING"}
# Held back in the catch-up runs, so each measured consumer reads alone.
WARD_OTHERS = ("ward-board", "vitals-monitor", "callout-status", "webhook-dispatcher")
OUTREACH_OTHERS = ("alert-callouts", "callouts", "webhook-dispatcher")


class Pair:
    """A ward process and an outreach process reading it."""

    def __init__(self, db: BenchDatabase, ward_url: str, outreach_url: str) -> None:
        self.ward_db, self.outreach_db = ward_url, outreach_url
        self.port = free_port()
        self.key = stream_key(ward_url, "outreach", ("streams:read:alerts",))
        self.processes: list[SluiceProcess] = []

    def ward(self) -> SluiceProcess:
        env = {**QUIET, "DATABASE_URL": self.ward_db}
        return self._start(env, self.port)

    def outreach(self) -> SluiceProcess:
        env = {
            **QUIET,
            "DATABASE_URL": self.outreach_db,
            "SLUICE_SERVICE": "app.services.outreach:service",
            "SLUICE_UPSTREAM_WARD_URL": f"http://127.0.0.1:{self.port}",
            "SLUICE_UPSTREAM_WARD_KEY": self.key,
        }
        return self._start(env, None)

    def _start(self, env: dict[str, str], port: int | None) -> SluiceProcess:
        process = SluiceProcess(env, Path("/tmp"), port)
        self.processes.append(process)
        process.wait_ready(120)
        return process

    def close(self) -> None:
        for process in self.processes:
            process.close()


def databases(db: BenchDatabase) -> tuple[str, str]:
    ward = db.fresh("bench_streams_ward")
    outreach = db.fresh("bench_streams_outreach", migrate=False)
    upgrade(outreach, migrations_branch(outreach_service))
    return ward, outreach


# -- latency ------------------------------------------------------------------------------------
async def visible(
    http: httpx.AsyncClient, base: str, view: str, patient: str, poll: float
) -> float | None:
    deadline = time.perf_counter() + 10
    while time.perf_counter() < deadline:
        if (await http.get(f"{base}/views/{view}/{patient}")).status_code == 200:
            return time.perf_counter()
        await asyncio.sleep(poll)
    return None


async def latency(ward: str, outreach: str, args: argparse.Namespace) -> dict[str, list[float]]:
    """wrk offers the load; this client sends the sampled commands (open loop) and polls."""
    found: dict[str, list[float]] = {"local": [], "cross": [], "missed": []}
    async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=10) as http:

        async def one(index: int) -> None:
            patient = f"lat-{index}"
            body = {"ward": "W1", "score": 5, "risk": "medium", "reasons": ["pulse"]}
            sent = time.perf_counter()
            answer = await http.post(f"{ward}/entities/alert/{patient}/raise", json=body)
            if answer.status_code != 200:
                found["missed"].append(1)
                return
            local = index % 2 == 0
            where, view = (ward, "open-alerts") if local else (outreach, "ward-alerts")
            seen = await visible(http, where, view, patient, args.poll_ms / 1000)
            if seen is None:
                found["missed"].append(1)
            else:
                found["local" if local else "cross"].append((seen - sent) * 1000)

        tasks, started = [], time.perf_counter()
        for index in range(int(args.seconds * args.sample_rate)):
            await asyncio.sleep(max(0.0, started + index / args.sample_rate - time.perf_counter()))
            tasks.append(asyncio.create_task(one(index)))
        await asyncio.gather(*tasks)
    return found


async def under_load(ward: str, outreach: str, args: argparse.Namespace) -> Any:
    wrk_rate = args.rate - args.sample_rate
    delay_ms = max(1, round(CONNECTIONS * 1000 / wrk_rate) - EXPECTED_LATENCY_MS)
    seconds = args.seconds + 2
    load = asyncio.create_task(
        asyncio.to_thread(wrk, ward, CONNECTIONS, seconds, ALERTS, env={"DELAY_MS": str(delay_ms)})
    )
    await asyncio.sleep(1.0)
    found = await latency(ward, outreach, args)
    return await load, found


# -- catch-up -----------------------------------------------------------------------------------
async def alert_backlog(url: str, events: int) -> None:
    """events/2 patients, each AlertRaised then AlertResolved, straight through the journal."""
    pool = AsyncConnectionPool(url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False)
    await pool.open(wait=True)
    journal, rng = Journal(pool), random.Random(15)

    async def one(n: int) -> None:
        risk = rng.choice(["low-medium", "medium", "high"])
        raised = AlertRaised(ward="W1", score=5, risk=risk, reasons=["pulse"], episode=1)
        resolved = AlertResolved(note="better")
        pending = [(uuid.uuid4(), raised), (uuid.uuid4(), resolved)]
        await journal.append(PendingAppend("alert", f"c{n}", 1, pending, {}))

    try:
        for start in range(0, events // 2, 200):
            await asyncio.gather(*(one(n) for n in range(start, min(start + 200, events // 2))))
    finally:
        await pool.close()


def hold(url: str, names: tuple[str, ...], kind: str = "view") -> None:
    """Consumers registered paused before their process starts (so they read nothing)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for name in names:
            conn.execute(
                "INSERT INTO checkpoints (name, kind, position, paused) VALUES (%s, %s, 0, true)"
                " ON CONFLICT (name) DO UPDATE SET paused = true",
                [name, kind],
            )


def status(base: str, name: str) -> dict[str, Any]:
    return httpx.get(f"{base}/consumers/{name}", headers=AUTH_HEADERS, timeout=10).json()


def timed_catch_up(database_url: str, name: str, head: int, started: float) -> float:
    """Seconds until ``name``'s checkpoint reaches ``head``, read from its database every
    20 ms (one cheap query on a kept connection: asking the process over HTTP that often
    would take CPU from the very consumer being measured)."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT position, failing_seq, error FROM checkpoints WHERE name = %s", [name]
            ).fetchone()
            assert row is not None
            if row[0] >= head:
                return time.perf_counter() - started
            if row[1] is not None:
                raise RuntimeError(f"{name} failing at {row[1]}: {row[2]}")
            time.sleep(0.02)


def catch_up(db: BenchDatabase, args: argparse.Namespace) -> tuple[float, float, int]:
    ward_db, outreach_db = databases(db)
    asyncio.run(alert_backlog(ward_db, args.events))
    hold(ward_db, ("open-alerts", *WARD_OTHERS))
    hold(outreach_db, OUTREACH_OTHERS)
    hold(outreach_db, ("ward-alerts",))
    pair = Pair(db, ward_db, outreach_db)
    try:
        ward = pair.ward()
        while status(ward.url, "open-alerts")["head"] < args.events:  # sequenced
            time.sleep(0.1)
        head = status(ward.url, "open-alerts")["head"]
        with psycopg.connect(ward_db, autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")
        started = time.perf_counter()
        httpx.post(f"{ward.url}/consumers/open-alerts/resume", headers=AUTH_HEADERS)
        local = timed_catch_up(ward_db, "open-alerts", head, started)

        outreach = pair.outreach()
        started = time.perf_counter()
        httpx.post(f"{outreach.url}/consumers/ward-alerts/resume", headers=AUTH_HEADERS)
        cross = timed_catch_up(outreach_db, "ward-alerts", head, started)
    finally:
        pair.close()
    return head / local, head / cross, head


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench streams", description=__doc__)
    parser.add_argument("--rate", type=float, default=200.0, help="raise commands/s on A")
    parser.add_argument("--sample-rate", type=float, default=10.0, help="of which sampled")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--poll-ms", type=float, default=5.0, help="row polling interval")
    parser.add_argument("--events", type=int, default=100_000, help="public events to catch up")
    parser.add_argument("--skip-latency", action="store_true")
    args = parser.parse_args(argv)
    with bench_database() as db:
        if not args.skip_latency:
            run_latency(db, args)
        local, cross, head = catch_up(db, args)
    table(
        f"catch-up of {head:,} public events (ward-alerts over HTTP vs open-alerts in A)",
        ["consumer", "events/s", "vs local"],
        [
            ("A open-alerts (local)", f"{local:,.0f}", "1.00"),
            ("B ward-alerts", f"{cross:,.0f}", f"{cross / local:.2f}"),
        ],
    )
    return 0


def run_latency(db: BenchDatabase, args: argparse.Namespace) -> None:
    ward_db, outreach_db = databases(db)
    pair = Pair(db, ward_db, outreach_db)
    try:
        ward, outreach = pair.ward(), pair.outreach()
        load, found = asyncio.run(under_load(ward.url, outreach.url, args))
    finally:
        pair.close()
    rows = []
    for name, label in (("local", "A open-alerts (local)"), ("cross", "B ward-alerts (across)")):
        samples = found[name]
        rows.append(
            (label, len(samples), f"{median(samples):.1f}", f"{percentile(samples, 0.99):.1f}")
        )
    ratio = percentile(found["cross"], 0.99) / percentile(found["local"], 0.99)
    table(
        f"command on A -> row visible, {args.rate:g} commands/s offered ({load['rps']:.0f}/s"
        f" by wrk); poll {args.poll_ms:g} ms; missed: {len(found['missed'])}",
        ["view", "samples", "p50 ms", "p99 ms"],
        rows,
    )
    print(f"cross-service p99 / local p99: {ratio:.2f} (target < 2)")
