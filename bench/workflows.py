"""Workflows and key-value entities: what they cost next to what they are built from.

    python -m bench workflows [--workflows 1000] [--trials 3] [--seconds 10]

One `sluice serve` of `bench.workflow_service` on a fresh database:
  * --workflows 3-step workflows (each step sends one command) started while the workflow's
    runner is paused, and as many `go` commands, each of which the `fan-out` action turns into
    the same three commands, logged while the action is paused. Each is resumed in turn and
    timed until every workflow has ended / the action has handled every event: workflows
    completed/s next to action events handled/s (three commands each). A workflow's step also
    hands its answer back to the workflow (a second command) and waits for its next step's
    event to be sequenced and read, so it is expected to be the slower.
  * wrk at 32 connections, --seconds each: a key-value entity's `write` (the value snapshotted
    with every write) next to an event-sourced entity's `write` with the same body.
Trials alternate the order; the figures are medians.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from pathlib import Path

import httpx
import psycopg

from app.db.migrate import upgrade
from app.views.schema import migrations_branch
from bench.database import bench_database
from bench.report import median, table
from bench.servers import ROOT, sluice_process, wrk
from bench.streams import hold, timed_catch_up
from bench.workflow_service import service as workflow_service
from tests.support.auth import AUTH_HEADERS

WRITE = Path(__file__).with_name("write_body.lua")
RUNNER, ACTION = "three-steps", "fan-out"


async def post_all(base: str, paths: list[str], *, with_target: bool) -> None:
    limits = httpx.Limits(max_connections=32)
    async with httpx.AsyncClient(
        base_url=base, headers=AUTH_HEADERS, limits=limits, timeout=60
    ) as http:
        queue = list(paths)

        async def worker() -> None:
            while queue:
                path = queue.pop()
                body = {"target": path.split("/")[3]} if with_target else {}
                answer = await http.post(path, json=body)
                answer.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(32)))


def head(db: str) -> int:
    with psycopg.connect(db) as conn:
        row = conn.execute("SELECT count(*), count(seq) FROM events").fetchone()
    assert row is not None
    return int(row[1]) if row[0] == row[1] else -1


def wait_sequenced(db: str) -> int:
    while (found := head(db)) < 0:
        time.sleep(0.05)
    return found


def resume(base: str, name: str) -> float:
    started = time.perf_counter()
    httpx.post(f"{base}/consumers/{name}/resume", headers=AUTH_HEADERS).raise_for_status()
    return started


def workflows_ended(db: str, count: int, started: float) -> float:
    with psycopg.connect(db, autocommit=True) as conn:
        while True:
            row = conn.execute(
                "SELECT count(*) FROM events WHERE entity_type = 'three' AND type = 'Ended'"
            ).fetchone()
            if row is not None and row[0] >= count:
                return time.perf_counter() - started
            time.sleep(0.02)


def one_trial(db: str, count: int, seconds: float, action_first: bool) -> dict[str, float]:
    hold(db, (RUNNER,), kind="workflow")
    hold(db, (ACTION,), kind="action")
    env = {
        "DATABASE_URL": db,
        "SLUICE_SERVICE": "bench.workflow_service:service",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "SLUICE_ACCESS_LOG": "false",
    }
    with sluice_process(env) as process:
        base = process.url
        run = f"{time.monotonic_ns() % 10**9}"
        starts = [f"/entities/three/w{run}-{n}/start" for n in range(count)]
        asyncio.run(post_all(base, starts, with_target=True))
        triggers = [f"/entities/trigger/t{run}-{n}/go" for n in range(count)]
        asyncio.run(post_all(base, triggers, with_target=False))
        found: dict[str, float] = {}
        for name in (ACTION, RUNNER) if action_first else (RUNNER, ACTION):
            at = wait_sequenced(db)
            started = resume(base, name)
            if name == ACTION:
                found["action"] = count / timed_catch_up(db, ACTION, at, started)
            else:
                found["workflow"] = count / workflows_ended(db, count, started)
            hold(db, (name,), kind="workflow" if name == RUNNER else "action")
        for entity in ("jot", "note") if action_first else ("note", "jot"):
            found[entity] = wrk(base, 32, seconds, WRITE, env={"ENTITY": entity})["rps"]
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench workflows", description=__doc__)
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    runs = []
    with bench_database() as database:
        for trial in range(args.trials):
            db = database.fresh("bench_flows", migrate=False)
            upgrade(db, migrations_branch(workflow_service))
            runs.append(one_trial(db, args.workflows, args.seconds, trial % 2 == 0))
    rows = [
        (
            n,
            f"{run['workflow']:,.0f}",
            f"{run['action']:,.0f}",
            f"{run['workflow'] / run['action']:.2f}",
            f"{run['note']:,.0f}",
            f"{run['jot']:,.0f}",
            f"{run['note'] / run['jot']:.2f}",
        )
        for n, run in enumerate(runs, 1)
    ]
    table(
        f"3-step workflows ({args.workflows:,}) and key-value writes (wrk, 32 connections)",
        [
            "trial",
            "workflows/s",
            "action events/s",
            "ratio",
            "key-value writes/s",
            "event-sourced/s",
            "ratio",
        ],
        rows,
    )
    print(
        "median workflows/s / action events/s:"
        f" {median([r['workflow'] / r['action'] for r in runs]):.2f};"
        f" key-value / event-sourced writes: {median([r['note'] / r['jot'] for r in runs]):.2f}"
    )
    return 0
