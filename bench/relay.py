"""The relay: command -> event on a WebSocket client of another process, and the sequencer.

    python -m bench relay [--seconds 8] [--rates 100,500,1000] [--backlog 100000]

Prints, measured in the same run on the same PostgreSQL:
  * the baseline: a bare NOTIFY -> LISTEN round trip (psycopg, two connections);
  * the sequencer's maximum events/s on a backlog already waiting in the outbox;
  * end-to-end latency at each offered rate: wrk posts record-vitals to process A, a
    WebSocket client reads /ws/events from process B; latency = receipt - the event's
    recorded time (the append's transaction start, on the same clock).
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

import psycopg
import websockets

from app.relay.listener import Listener
from app.relay.sequencer import Sequencer
from app.relay.sql import LOG_CHANNEL, OUTBOX_CHANNEL
from bench.database import bench_database
from bench.report import median, percentile, table
from bench.servers import admit_patients, sluice_server
from tests.support.auth import AUTH_HEADERS
from tests.support.relay import bulk_append

PACED = Path(__file__).with_name("paced_vitals.lua")
CONNECTIONS = 50  # enough that pausing connections can offer 1,000 commands/s
EXPECTED_LATENCY_MS = 8  # each connection pauses after a response: rate = conns / (pause + rtt)


async def notify_round_trips(url: str, samples: int = 500) -> list[float]:
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
    finally:
        await listener.close()
        await sender.close()
    return latencies


async def sequencer_rate(url: str, backlog: int, batch_size: int) -> float:
    await bulk_append(url, entities=backlog // 100, per_entity=100, prefix=f"b{batch_size}")
    listener = Listener(url, [OUTBOX_CHANNEL, LOG_CHANNEL])
    sequencer = Sequencer(url, listener, batch_size=batch_size, poll_interval=0.05)
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
    delay_ms = max(1, round(CONNECTIONS * 1000 / rate) - EXPECTED_LATENCY_MS)
    latencies: list[float] = []
    ws_url = reader.replace("http://", "ws://") + "/ws/events"
    async with websockets.connect(
        ws_url, max_size=2**20, additional_headers=AUTH_HEADERS
    ) as socket:
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

        async def read() -> None:
            async for message in socket:
                event = json.loads(message)
                sent = datetime.fromisoformat(event["time"]).timestamp()
                latencies.append((time.time() - sent) * 1000)

        reading = asyncio.create_task(read())
        output, _ = await load.communicate()
        await asyncio.sleep(1.0)  # let the last events arrive
        reading.cancel()
    achieved = float(output.decode().split("Requests/sec:")[1].split()[0])
    return {
        "achieved": achieved,
        "events": len(latencies),
        "p50": percentile(latencies, 0.50),
        "p99": percentile(latencies, 0.99),
        "max": max(latencies, default=float("nan")),
    }


def end_to_end_rows(url: str, args: argparse.Namespace) -> list[list[object]]:
    with sluice_server(url) as writer, sluice_server(url) as reader:
        admit_patients(writer)
        rows: list[list[object]] = []
        for rate in (int(r) for r in args.rates.split(",")):
            result = asyncio.run(end_to_end(writer, reader, rate, args.seconds))
            rows.append(
                [
                    rate,
                    result["achieved"],
                    int(result["events"]),
                    result["p50"],
                    result["p99"],
                    result["max"],
                ]
            )
        return rows


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
        round_trips = asyncio.run(notify_round_trips(url))
        table(
            "baseline: NOTIFY -> LISTEN round trip (ms)",
            ["samples", "p50", "p99", "max"],
            [
                [
                    len(round_trips),
                    median(round_trips),
                    percentile(round_trips, 0.99),
                    max(round_trips),
                ]
            ],
        )
        # End to end first: the sequencer phases below leave autovacuum and checkpoint work
        # behind that would share the disk with it. The client's own collector is frozen so
        # its pauses are not counted as the server's latency.
        gc.collect()
        gc.freeze()
        rows = end_to_end_rows(db.fresh("bench_e2e"), args)
        table(
            "end to end: POST on process A -> WebSocket client on process B (ms)",
            ["offered/s", "achieved/s", "events", "p50", "p99", "max"],
            rows,
        )
        rates = [
            [size, asyncio.run(sequencer_rate(db.fresh("bench_seq"), args.backlog, size))]
            for size in (1000, 5000)
        ]
        table(f"sequencer, backlog of {args.backlog:,} events", ["batch", "events/s"], rates)
        print(
            f"\nratio: p50 end-to-end / NOTIFY round trip at the lowest rate = "
            f"{rows[0][3] / median(round_trips):.1f}x"
        )
    return 0
