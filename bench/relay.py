"""The relay: command -> event on a WebSocket client of another process, and the sequencer.

    python -m bench relay [--seconds 8] [--rates 100,500,1000] [--backlog 100000]

Prints, measured in the same run on the same PostgreSQL:
  * the baseline: a bare NOTIFY -> LISTEN round trip (psycopg, two connections);
  * the sequencer's maximum events/s on a backlog already waiting in the outbox;
  * end-to-end latency at each offered rate: wrk posts record-vitals to process A, a
    WebSocket client reads /ws/events from process B. Two measures: for every event, receipt
    minus the event's recorded time (the append's transaction start, on the same clock); and
    for a probe's own commands (50/s on top of wrk's), receipt minus the moment the POST was
    sent, so the HTTP request and the group commit's queue are counted too.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path

import httpx
import psycopg
import websockets

from app.background.listener import Listener
from app.background.settings import WorkerSettings
from app.relay.sequencer import Sequencer
from app.relay.settings import SequencerSettings
from bench.append import VITALS
from bench.database import bench_database
from bench.report import median, percentile, table
from bench.servers import admit_patients, sluice_server
from tests.support.auth import AUTH_HEADERS
from tests.support.relay import bulk_append

PACED = Path(__file__).with_name("paced_vitals.lua")
CONNECTIONS = 50  # enough that pausing connections can offer 1,000 commands/s
EXPECTED_LATENCY_MS = 8  # each connection pauses after a response: rate = conns / (pause + rtt)
PROBE_EVERY = 0.02  # seconds between the probe's own timed commands
PROBE_PATIENT = {"name": "Probe", "ward": "W1", "bed": "probe"}


async def notify_round_trips(url: str, samples: int = 500, pause: float = 0.0) -> list[float]:
    """``pause`` between samples: a process woken after sleeping pays more than one kept busy
    (here ~0.5 ms after 10 ms idle against ~0.15 ms back to back), so each offered rate gets a
    baseline at its own spacing."""
    listener = await psycopg.AsyncConnection.connect(url, autocommit=True)
    sender = await psycopg.AsyncConnection.connect(url, autocommit=True)
    await listener.execute("LISTEN bench_ping")
    latencies = []
    try:
        for _ in range(samples):
            started = time.perf_counter()
            await sender.execute("SELECT pg_notify('bench_ping', '')")
            async for _ in listener.notifies(stop_after=1):
                latencies.append((time.perf_counter() - started) * 1000)
            if pause:
                await asyncio.sleep(pause)
    finally:
        await listener.close()
        await sender.close()
    return latencies


async def sequencer_rate(url: str, backlog: int, batch_size: int) -> float:
    await bulk_append(url, entities=backlog // 100, per_entity=100, prefix=f"b{batch_size}")
    listener = Listener(url, WorkerSettings())
    sequencer = Sequencer(
        url, listener, SequencerSettings(batch_size=batch_size), WorkerSettings(poll_seconds=0.05)
    )
    listener.start()
    started = time.perf_counter()
    sequencer.start()
    try:
        while sequencer.stats.sequenced < backlog:  # noqa: ASYNC110 - its counter, no query
            await asyncio.sleep(0.005)
        return backlog / (time.perf_counter() - started)
    finally:
        await sequencer.stop()
        await listener.stop()


async def end_to_end(writer: str, reader: str, rate: int, seconds: float) -> dict[str, float]:
    """wrk offers ``rate`` commands/s; the WebSocket client times every event from its
    recorded time, and a probe (PROBE_EVERY apart, on top of wrk's load) times its own
    commands from the moment each POST was sent: the whole path, HTTP included."""
    delay_ms = max(1, round(CONNECTIONS * 1000 / rate) - EXPECTED_LATENCY_MS)
    latencies: list[float] = []
    received_at: dict[str, float] = {}
    probes: list[tuple[str, float]] = []
    ws_url = reader.replace("http://", "ws://") + "/ws/events"
    async with (
        websockets.connect(ws_url, max_size=2**20, additional_headers=AUTH_HEADERS) as socket,
        httpx.AsyncClient(base_url=writer, headers=AUTH_HEADERS, timeout=10) as http,
    ):
        await http.post("/entities/patient/probe/admit", json=PROBE_PATIENT)

        async def read() -> None:
            async for message in socket:
                now = time.time()
                event = json.loads(message)
                received_at[event["id"]] = now
                latencies.append((now - datetime.fromisoformat(event["time"]).timestamp()) * 1000)

        async def probe() -> None:
            while True:
                sent = time.time()
                reply = await http.post("/entities/patient/probe/record-vitals", json=VITALS)
                probes.append((reply.json()["events"][0]["event_id"], sent))
                await asyncio.sleep(max(0.0, PROBE_EVERY - (time.time() - sent)))

        reading = asyncio.create_task(read())
        await asyncio.sleep(0.5)  # the client is live before the load starts
        load = await asyncio.create_subprocess_exec(
            "wrk",
            "-t1",
            f"-c{CONNECTIONS}",
            f"-d{int(seconds)}s",
            "-H",
            f"Authorization: {AUTH_HEADERS['Authorization']}",
            "-s",
            str(PACED),
            writer,
            env={**os.environ, "DELAY_MS": str(delay_ms)},
            stdout=asyncio.subprocess.PIPE,
        )
        probing = asyncio.create_task(probe())
        output, _ = await load.communicate()
        probing.cancel()
        await asyncio.sleep(1.0)  # let the last events arrive
        reading.cancel()
    achieved = float(output.decode().split("Requests/sec:")[1].split()[0])
    from_post = [(received_at[id_] - sent) * 1000 for id_, sent in probes if id_ in received_at]
    return {
        "achieved": achieved,
        "events": len(latencies),
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
        "probes": len(from_post),
        "post_p50": percentile(from_post, 0.50),
        "post_p99": percentile(from_post, 0.99),
        "post_max": max(from_post, default=float("nan")),
    }


def end_to_end_rows(url: str, args: argparse.Namespace) -> list[list[object]]:
    with sluice_server(url) as writer, sluice_server(url) as reader:
        admit_patients(writer)
        rows: list[list[object]] = []
        for rate in (int(r) for r in args.rates.split(",")):
            result = asyncio.run(end_to_end(writer, reader, rate, args.seconds))
            rows.append([rate, result["achieved"], *(result[k] for k in ROW_KEYS[1:])])
        return rows


HEADER = ["offered/s", "achieved/s", "events", "p50", "p99", "max"]
HEADER += ["probes", "POST p50", "POST p99", "POST max"]
ROW_KEYS = ("achieved", "events", "p50", "p99", "max", "probes", "post_p50", "post_p99", "post_max")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench relay", description=__doc__)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--rates", default="100,500,1000")
    parser.add_argument("--backlog", type=int, default=100_000)
    args = parser.parse_args(argv)
    if shutil.which("wrk") is None:
        print("wrk not found: `apt-get install wrk`", file=sys.stderr)
        return 2
    with bench_database() as db:
        url = db.fresh("bench_relay")
        offered = [int(r) for r in args.rates.split(",")]
        baselines = {rate: asyncio.run(notify_round_trips(url, 300, 1 / rate)) for rate in offered}
        table(
            "baseline: NOTIFY -> LISTEN round trip (ms), one every 1/rate seconds",
            ["rate/s", "samples", "p50", "p99", "max"],
            [
                [rate, len(trips), median(trips), percentile(trips, 0.99), max(trips)]
                for rate, trips in baselines.items()
            ],
        )
        # End to end first: the sequencer phases below leave autovacuum and checkpoint work
        # behind that would share the disk with it. The client's own collector is frozen so
        # its pauses are not counted as the server's latency.
        gc.collect()
        gc.freeze()
        rows = end_to_end_rows(db.fresh("bench_e2e"), args)
        table(
            "end to end: command on process A -> WebSocket client on process B (ms); "
            "from the event's recorded time (every event), and from the POST sent (probes)",
            HEADER,
            rows,
        )
        rates = [
            [size, asyncio.run(sequencer_rate(db.fresh("bench_seq"), args.backlog, size))]
            for size in (1000, 5000)
        ]
        table(f"sequencer, backlog of {args.backlog:,} events", ["batch", "events/s"], rates)
        print()
        for rate, row in zip(offered, rows, strict=True):
            print(
                f"ratio at {rate}/s: end-to-end p50 / NOTIFY round trip p50 = "
                f"{float(row[3]) / median(baselines[rate]):.1f}x (one NOTIFY hop of the two "
                f"an event makes, plus a commit, a sequencing statement and a WebSocket send)"
            )
    return 0
