"""The log can grow: what reading and writing cost at 10,000 events and at 10 million.

    python -m bench growth [--events 10000000] [--seconds 10] [--rate 500] [--catch-up 500000]

One database, measured twice by a `sluice serve` (whole pipeline running): first with a small
log (1,000 admitted patients, one patient with a long stream, ~10,000 events in all), then
after the log was grown to --events with COPY (VitalsRecorded for 100,000 patients, event ids
made as the journal makes them; every consumer's checkpoint moved to the head, as in a
service that has run that long). Each time:
  * append: `record-vitals` p50/p99 at --rate commands/s offered (wrk, paced), numbered and
    applied by the consumers meanwhile;
  * entity load: GET of the long stream's patient (a snapshot and its tail), p50/p99;
  * GET /events?after=<random seq>: p50/p99;
  * WebSocket catch-up from seq 0: events/s over the first --catch-up events (or the whole
    log, if shorter), and how much the server's memory grew meanwhile;
  * view rebuild: `open-alerts` rebuilt over the whole log (it scans every seq: its alerts are
    few), seqs/s, and the server's memory growth.
The ratio column is at --events over at the small size: 1.0 is flat.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import threading
import time
import uuid
from pathlib import Path

import httpx
import psycopg
import websockets

from bench.append import VITALS
from bench.database import bench_database
from bench.report import percentile, table
from bench.servers import admit_patients, sluice_process, wrk
from tests.support.auth import AUTH_HEADERS
from tests.support.servers import SluiceProcess

PACED = Path(__file__).with_name("paced_vitals.lua")
LONG_STREAM = "long"
LONG_EVENTS = 5_000
COPY_CHUNK = 500_000
GROWN_PER_ENTITY = 100


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench growth")
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=int, default=500)
    parser.add_argument("--catch-up", type=int, default=500_000)
    args = parser.parse_args(argv)
    results: dict[str, dict[str, float]] = {}
    with bench_database() as database:
        url = database.fresh("growth")
        with sluice_process({"DATABASE_URL": url}) as server:
            admit_patients(server.url)
            long_stream(server.url)
        head = _head(url)
        with sluice_process({"DATABASE_URL": url}) as server:
            results["small"] = measure(server, url, args)
        started = time.monotonic()
        grow(url, args.events)
        print(f"grew the log to {_head(url):,} events in {time.monotonic() - started:.0f} s")
        with sluice_process({"DATABASE_URL": url}) as server:
            results["big"] = measure(server, url, args)
    report(results, head, args)
    return 0


def long_stream(base: str) -> None:
    """One patient with LONG_EVENTS events (snapshots taken as the journal takes them)."""
    admit = {"name": "Long Stay", "ward": "W1", "bed": "L"}
    with httpx.Client(headers=AUTH_HEADERS, base_url=base, timeout=30) as http:
        http.post(f"/entities/patient/{LONG_STREAM}/admit", json=admit).raise_for_status()
        for _ in range(LONG_EVENTS - 1):
            http.post(f"/entities/patient/{LONG_STREAM}/record-vitals", json=VITALS)


def grow(url: str, events: int) -> None:
    """COPY VitalsRecorded events, numbered past the head, then move every local consumer's
    checkpoint there (as if the service had run all along)."""
    with psycopg.connect(url, autocommit=True) as conn:
        head = _head(url)
        # The data of a real VitalsRecorded, as the long stream's commands stored it.
        row = conn.execute(
            "SELECT data::text FROM events WHERE type = 'VitalsRecorded' LIMIT 1"
        ).fetchone()
        assert row is not None
        data = row[0]
        todo = events - head
        written = 0
        while written < todo:
            chunk = min(COPY_CHUNK, todo - written)
            with conn.transaction(), conn.cursor() as cursor:
                columns = (
                    "seq, event_id, entity_type, entity_id, version, type, schema_version, data"
                )
                with cursor.copy(f"COPY events ({columns}) FROM STDIN") as copy:
                    for offset in range(written, written + chunk):
                        copy.write_row(
                            (
                                head + offset + 1,
                                uuid.uuid4(),
                                "patient",
                                f"g{offset // GROWN_PER_ENTITY}",
                                offset % GROWN_PER_ENTITY + 1,
                                "VitalsRecorded",
                                1,
                                data,
                            )
                        )
            written += chunk
        conn.execute("ANALYZE events")
        conn.execute(
            "UPDATE checkpoints SET position = (SELECT max(seq) FROM events) WHERE upstream IS NULL"
        )


def measure(server: SluiceProcess, url: str, args: argparse.Namespace) -> dict[str, float]:
    head = _head(url)
    found: dict[str, float] = {}
    delay = 32 * 1000 / args.rate
    appended = wrk(server.url, 32, args.seconds, PACED, env={"DELAY_MS": f"{delay:.3f}"})
    found["append p50 ms"], found["append p99 ms"] = appended["p50"], appended["p99"]
    with httpx.Client(headers=AUTH_HEADERS, base_url=server.url, timeout=30) as http:
        loads = _timed(lambda: http.get(f"/entities/patient/{LONG_STREAM}"), 200)
        found["entity load p50 ms"], found["entity load p99 ms"] = _p50_p99(loads)
        pages = _timed(
            lambda: http.get("/events", params={"after": random.randint(0, head), "limit": 100}),
            300,
        )
        found["GET /events p50 ms"], found["GET /events p99 ms"] = _p50_p99(pages)
    rate, grown = _while_sampling_memory(server, lambda: asyncio.run(_catch_up(server, args)))
    found["catch-up events/s"], found["catch-up memory MB"] = rate, grown
    rate, grown = _while_sampling_memory(server, lambda: _rebuild(server, url))
    found["rebuild seqs/s"], found["rebuild memory MB"] = rate, grown
    return found


def _timed(call: object, times: int) -> list[float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        response = call()  # type: ignore[operator]
        samples.append((time.perf_counter() - started) * 1000)
        response.raise_for_status()
    return samples


def _p50_p99(samples: list[float]) -> tuple[float, float]:
    return statistics.median(samples), percentile(samples, 0.99)


async def _catch_up(server: SluiceProcess, args: argparse.Namespace) -> float:
    """From seq 0 over a WebSocket: events/s over the first --catch-up events."""
    target = min(args.catch_up, await asyncio.to_thread(_server_head, server))
    url = server.url.replace("http://", "ws://") + "/ws/events?after=0"
    received = 0
    started = time.monotonic()
    async with websockets.connect(url, additional_headers=AUTH_HEADERS, max_size=2**22) as client:
        while received < target:
            message = json.loads(await client.recv())
            received = message["seq"]
    return received / (time.monotonic() - started)


def _server_head(server: SluiceProcess) -> int:
    page = httpx.get(f"{server.url}/events?limit=1", headers=AUTH_HEADERS, timeout=30).json()
    return int(page["head"])


def _rebuild(server: SluiceProcess, url: str) -> float:
    head = _head(url)
    with httpx.Client(headers=AUTH_HEADERS, base_url=server.url, timeout=30) as http:
        started = time.monotonic()
        http.post("/views/open-alerts/rebuild").raise_for_status()
        while True:
            status = http.get("/consumers/open-alerts").json()
            rebuild = status.get("rebuild") or {}
            if rebuild.get("state") == "done":
                break
            if rebuild.get("state") == "failed":
                raise RuntimeError(f"the rebuild failed: {rebuild}")
            time.sleep(0.05)
    return head / (time.monotonic() - started)


def _while_sampling_memory(server: SluiceProcess, work: object) -> tuple[float, float]:
    """``work()``'s result, and how far the server's resident memory rose above where it
    started while it ran (MB)."""
    pid = server.process.pid
    before = _rss_mb(pid)
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.05):
            peak[0] = max(peak[0], _rss_mb(pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = work()  # type: ignore[operator]
    finally:
        done.set()
        sampler.join()
    return float(result), peak[0] - before


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _head(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
    return int(row[0]) if row else 0


def report(results: dict[str, dict[str, float]], small_head: int, args: argparse.Namespace) -> None:
    rows = []
    for name, small in results["small"].items():
        big = results["big"][name]
        ratio = big / small if small else float("nan")
        rows.append([name, f"{small:,.1f}", f"{big:,.1f}", f"{ratio:.2f}"])
    table(
        f"the log at ~{small_head:,} events and at {args.events:,}",
        ["measure", f"~{small_head:,}", f"{args.events:,}", "ratio"],
        rows,
    )
