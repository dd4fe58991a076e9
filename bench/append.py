"""Write-path throughput: the repository, the command runner and HTTP, against baselines.

    python -m bench append [--seconds 5] [--trials 3] [--skip-http] [--skip-eventsourcing]

Every figure is the median of --trials runs on the same PostgreSQL in the same process run:
  * raw psycopg: the same events + outbox INSERT as one autocommitted statement, N threads;
  * raw psycopg, BEGIN / INSERT / INSERT / COMMIT, N threads (the textbook transaction);
  * `eventsourcing` (PyPI), one new aggregate (one event) saved per call, N threads;
  * Sluice's journal append, and the full command path (cache, decide, append), N asyncio tasks;
  * HTTP `record-vitals` over 1,000 patients with wrk at 1, 8, 32 connections, against
    GET /healthz on the same server (the HTTP floor).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

from app.journal.commands import CommandRequest, CommandRunner
from app.journal.repository import Journal, PendingAppend
from app.journal.settings import CommandSettings
from app.services.ward import service as ward
from app.services.ward.patient import Admit, RecordVitals, VitalsRecorded
from bench.database import BenchDatabase, bench_database
from bench.report import median, table
from bench.servers import PATIENTS, admit_patients, sluice_server, wrk

VITALS = {
    "respiration_rate": 18,
    "spo2": 96,
    "on_oxygen": False,
    "systolic_bp": 118,
    "pulse": 84,
    "consciousness": "A",
    "temperature": 37.2,
}
LUA = Path(__file__).with_name("record_vitals.lua")

RAW_ONE_STATEMENT = """
WITH e AS (
    INSERT INTO events (event_id, entity_type, entity_id, version, type, schema_version, data)
    VALUES (%s, 'patient', %s, %s, 'VitalsRecorded', 1, %s) RETURNING id
) INSERT INTO outbox (event_row_id) SELECT id FROM e
"""
RAW_EVENT = """
INSERT INTO events (event_id, entity_type, entity_id, version, type, schema_version, data)
VALUES (%s, 'patient', %s, %s, 'VitalsRecorded', 1, %s) RETURNING id
"""


# -- baselines: threads, as a Python service would use psycopg -----------------------------------
def threaded_rate(
    workers: int, seconds: float, make_worker: Callable[[int], Callable[[], None]]
) -> float:
    done = [0] * workers
    stop = time.monotonic() + seconds

    def run(index: int) -> None:
        step = make_worker(index)
        while time.monotonic() < stop:
            step()
            done[index] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(workers)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(done) / (time.monotonic() - started)


def raw_psycopg(url: str, *, one_statement: bool) -> Callable[[int], Callable[[], None]]:
    def make(index: int) -> Callable[[], None]:
        conn = psycopg.connect(url, autocommit=one_statement)
        entity, version = f"raw-{uuid.uuid4().hex[:8]}-{index}", 0

        def step() -> None:
            nonlocal version
            version += 1
            args = (uuid.uuid4(), entity, version, Jsonb(VITALS))
            if one_statement:
                conn.execute(RAW_ONE_STATEMENT, args)
                return
            with conn.transaction():
                row = conn.execute(RAW_EVENT, args).fetchone()
                conn.execute("INSERT INTO outbox (event_row_id) VALUES (%s)", [row[0]])

        return step

    return make


_ES_AGGREGATE: list[type] = []


def _es_aggregate() -> type:
    """Defined once: eventsourcing registers each aggregate class under a topic name."""
    if not _ES_AGGREGATE:
        from eventsourcing.domain import Aggregate, event

        class Patient(Aggregate):
            @event("VitalsRecorded")
            def __init__(self, vitals: dict[str, Any]) -> None:
                self.vitals = vitals

        _ES_AGGREGATE.append(Patient)
    return _ES_AGGREGATE[0]


def eventsourcing_saver(db: BenchDatabase, url: str) -> Callable[[int], Callable[[], None]]:
    from eventsourcing.application import Application

    patient_type = _es_aggregate()

    parts = db.libpq_parts(url)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": parts["dbname"],
        "POSTGRES_HOST": parts["host"],
        "POSTGRES_PORT": parts["port"],
        "POSTGRES_USER": parts["user"],
        "POSTGRES_PASSWORD": parts["password"],
        "POSTGRES_POOL_SIZE": "8",
        "POSTGRES_MAX_OVERFLOW": "8",
    }
    application = Application(env=env)

    def make(_: int) -> Callable[[], None]:
        return lambda: application.save(patient_type(VITALS))

    return make


# -- Sluice: asyncio tasks on one pool ------------------------------------------------------------
async def async_rate(workers: int, seconds: float, step: Callable[[int, int], Any]) -> float:
    done = 0
    stop = time.monotonic() + seconds

    async def run(index: int) -> None:
        nonlocal done
        count = 0
        while time.monotonic() < stop:
            count += 1
            await step(index, count)
        done += count

    started = time.monotonic()
    await asyncio.gather(*(run(i) for i in range(workers)))
    return done / (time.monotonic() - started)


async def sluice_rates(url: str, workers: int, seconds: float) -> tuple[float, float]:
    pool = AsyncConnectionPool(
        url, min_size=workers, max_size=workers, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    try:
        journal = Journal(pool)
        event = VitalsRecorded(**VITALS, ward="W1", spo2_scale=1)
        prefix = uuid.uuid4().hex[:8]

        async def append(index: int, count: int) -> None:
            await journal.append(
                PendingAppend(
                    entity_type="patient",
                    entity_id=f"repo-{prefix}-{index}",
                    first_version=count,
                    events=[(uuid.uuid4(), event)],
                    metadata={"command": "record-vitals"},
                )
            )

        appended = await async_rate(workers, seconds, append)

        runner = CommandRunner(ward, journal, CommandSettings())
        admit = Admit(name="Bench", ward="W1", bed="1")
        ids = [f"cmd-{prefix}-{i}" for i in range(PATIENTS)]
        for patient_id in ids:
            await runner.run(CommandRequest("patient", patient_id, "admit", admit))
        vitals = RecordVitals(**VITALS)

        async def command(index: int, count: int) -> None:
            patient_id = ids[(index * 7919 + count) % PATIENTS]
            await runner.run(CommandRequest("patient", patient_id, "record-vitals", vitals))

        commanded = await async_rate(workers, seconds, command)
        return appended, commanded
    finally:
        await pool.close()


# -- HTTP with wrk ------------------------------------------------------------------------------
def http_bench(url: str, seconds: float, trials: int) -> list[list[object]]:
    with sluice_server(url) as base:
        admit_patients(base)
        rows: list[list[object]] = []
        for connections in (1, 8, 32):
            runs = [wrk(base, connections, seconds, LUA) for _ in range(trials)]
            floor = [wrk(f"{base}/healthz", connections, seconds, None) for _ in range(trials)]
            rps = median([r["rps"] for r in runs])
            floor_rps = median([r["rps"] for r in floor])
            rows.append(
                [
                    connections,
                    rps,
                    median([r["p50"] for r in runs]),
                    median([r["p99"] for r in runs]),
                    int(sum(r["errors"] for r in runs)),
                    floor_rps,
                    f"{rps / floor_rps:.2f}",
                ]
            )
        return rows


# -- the run ------------------------------------------------------------------------------------
def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench append", description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    parser.add_argument("--trials", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--skip-http", action="store_true")
    parser.add_argument("--skip-eventsourcing", action="store_true")
    args = parser.parse_args(argv)
    if not args.skip_http and shutil.which("wrk") is None:
        print("wrk not found: `apt-get install wrk` (or pass --skip-http)", file=sys.stderr)
        return 2

    with bench_database() as db:
        url = db.fresh("bench_append")
        results: dict[str, dict[int, float]] = {}

        def measure(name: str, workers: int, rate: Callable[[], float]) -> None:
            results.setdefault(name, {})[workers] = median([rate() for _ in range(args.trials)])

        for workers in (1, 8):
            measure(
                "raw psycopg, one statement",
                workers,
                lambda w=workers: threaded_rate(
                    w, args.seconds, raw_psycopg(url, one_statement=True)
                ),
            )
            measure(
                "raw psycopg, BEGIN..COMMIT",
                workers,
                lambda w=workers: threaded_rate(
                    w, args.seconds, raw_psycopg(url, one_statement=False)
                ),
            )
            if not args.skip_eventsourcing:
                es_url = db.fresh("bench_es", migrate=False)
                measure(
                    "eventsourcing (PyPI)",
                    workers,
                    lambda w=workers, u=es_url: threaded_rate(
                        w, args.seconds, eventsourcing_saver(db, u)
                    ),
                )
            pairs = [
                asyncio.run(sluice_rates(url, workers, args.seconds)) for _ in range(args.trials)
            ]
            results.setdefault("sluice journal append", {})[workers] = median([p[0] for p in pairs])
            results.setdefault("sluice command (decide+append)", {})[workers] = median(
                [p[1] for p in pairs]
            )

        rows = [[name, by[1], by[8]] for name, by in results.items()]
        table("events/s without HTTP (median of trials)", ["path", "1 writer", "8 writers"], rows)
        raw = results["raw psycopg, one statement"]
        print("\nratios at 8 writers:")
        for name in ("sluice journal append", "sluice command (decide+append)"):
            line = f"  {name}: {results[name][8] / raw[8]:.0%} of raw psycopg (one statement)"
            if "eventsourcing (PyPI)" in results:
                line += (
                    f", {results[name][8] / results['eventsourcing (PyPI)'][8]:.1f}x eventsourcing"
                )
            print(line)

        if not args.skip_http:
            http_rows = http_bench(db.fresh("bench_http"), args.seconds, args.trials)
            table(
                "HTTP record-vitals over 1,000 patients (wrk; median of trials)",
                ["conns", "cmd/s", "p50 ms", "p99 ms", "non-2xx", "/healthz req/s", "ratio"],
                http_rows,
            )
        print(json.dumps({"results": results}, default=str) if os.environ.get("BENCH_JSON") else "")
    return 0
