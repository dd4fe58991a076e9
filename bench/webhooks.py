"""Webhook delivery: deliveries/s to a local receiver, and event → receiver latency.

    python -m bench webhooks [--deliveries 20000] [--concurrency 64] [--rate 200] [--seconds 10]

A `sluice serve` process delivers to a uvicorn receiver (bench/receiver.py, always 200) on the
same machine. Throughput is measured with 1 and 10 subscriptions, from the first delivery's
arrival to the last; the baseline is the same signed POSTs sent by a bare httpx loop with the
same concurrency, in the same run. Latency is measured at a paced load, from each event's
commit time to its arrival (one clock: same machine).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from psycopg_pool import AsyncConnectionPool

from app.journal.repository import Journal, PendingAppend
from app.webhooks.signing import new_secret, signature_header
from bench.database import bench_database
from bench.report import median, percentile, table
from tests.support.auth import AUTH_HEADERS
from tests.support.relay import VITALS_EVENT, bulk_append
from tests.support.servers import SluiceProcess, free_port


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench webhooks")
    parser.add_argument("--deliveries", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=10, help="per subscription")
    parser.add_argument("--rate", type=float, default=200, help="paced events/s for latency")
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    with bench_database() as database:
        url = database.fresh("hooks")
        receiver_port = free_port()
        receiver = subprocess.Popen([sys.executable, "-m", "bench.receiver", str(receiver_port)])
        sluice = SluiceProcess(
            {
                "DATABASE_URL": url,
                "SLUICE_WEBHOOK_ALLOW_PRIVATE": "true",
                "SLUICE_WEBHOOK_CONCURRENCY": str(args.concurrency * 10),
                "SLUICE_WEBHOOK_SUBSCRIPTION_CONCURRENCY": str(args.concurrency),
            },
            Path(tempfile.gettempdir()),
        )
        try:
            sluice.wait_ready()
            asyncio.run(measure(args, sluice.url, url, f"http://127.0.0.1:{receiver_port}/hook"))
        finally:
            sluice.close()
            receiver.terminate()
            receiver.wait(10)
    return 0


async def measure(args: argparse.Namespace, base: str, url: str, hook_url: str) -> None:
    async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as http:
        await _wait_up(http, hook_url.replace("/hook", "/stats"))
        rows, rates = [], {}
        baseline = await bare_httpx(hook_url, args.deliveries, args.concurrency)
        rows.append(["bare httpx loop (baseline)", args.deliveries, baseline, "1.00"])
        first = 0
        for subscriptions in (1, 10):
            rate = await throughput(
                http, base, url, hook_url, subscriptions, args.deliveries, first
            )
            first += args.deliveries // subscriptions
            rates[subscriptions] = rate
            label = f"sluice, {subscriptions} subscription(s)"
            rows.append([label, args.deliveries, rate, f"{rate / baseline:.2f}"])
        table(
            "Webhook deliveries/s (receiver always 200)",
            ["sender", "deliveries", "per second", "vs baseline"],
            rows,
        )
        lags = await latency(http, base, url, hook_url, args.rate, args.seconds, first)
        table(
            f"Event commit → receiver at {args.rate:g} events/s, 1 subscription (ms)",
            ["samples", "p50", "p99", "max"],
            [[len(lags), median(lags), percentile(lags, 0.99), max(lags)]],
        )
        worst = min(rates.values())
        print(
            f"\ntargets: >= 60 % of the bare loop ({worst / baseline:.0%} at worst), "
            f">= 1,000 deliveries/s ({worst:,.0f} at worst)"
        )


async def _wait_up(http: httpx.AsyncClient, stats: str) -> None:
    for _ in range(100):
        try:
            await http.get(stats)
            return
        except httpx.TransportError:
            await asyncio.sleep(0.1)
    raise RuntimeError("the receiver did not start")


async def bare_httpx(hook_url: str, total: int, concurrency: int) -> float:
    """The same signed POSTs, as fast as a bare httpx client sends them."""
    secret = new_secret()
    body = (
        b'{"specversion":"1.0","id":"00000000-0000-0000-0000-000000000000","source":'
        b'"/sluice/ward/patient","type":"patient.VitalsRecorded","subject":"bulk-1","time":'
        b'"2026-01-01T00:00:00Z","datacontenttype":"application/json","data":{"respiration_rate":'
        b'16,"spo2":97,"on_oxygen":false,"systolic_bp":125,"pulse":72,"consciousness":"A",'
        b'"temperature":37.0,"ward":"W1","spo2_scale":1},"seq":1,"entityversion":1,'
        b'"schemaversion":1,"correlationid":null,"causationid":null}'
    )
    remaining = total
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=AUTH_HEADERS, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                message_id = str(uuid.uuid4())
                stamp = int(time.time())
                headers = {
                    "content-type": "application/json",
                    "webhook-id": message_id,
                    "webhook-timestamp": str(stamp),
                    "webhook-signature": signature_header([secret], message_id, stamp, body),
                }
                (await client.post(hook_url, content=body, headers=headers)).raise_for_status()

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return total / (time.perf_counter() - started)


async def _subscribe(http: httpx.AsyncClient, base: str, hook_url: str, count: int) -> None:
    for hook in (await http.get(f"{base}/webhooks")).json():
        await http.delete(f"{base}/webhooks/{hook['id']}")
    for n in range(count):
        body = {"url": f"{hook_url}?s={n}", "event_types": ["patient.*"]}
        (await http.post(f"{base}/webhooks", json=body)).raise_for_status()


async def throughput(
    http: httpx.AsyncClient,
    base: str,
    database_url: str,
    hook_url: str,
    subscriptions: int,
    deliveries: int,
    first: int,
) -> float:
    stats = hook_url.replace("/hook", "/stats")
    await _subscribe(http, base, hook_url, subscriptions)
    await http.post(hook_url.replace("/hook", "/reset"))
    events = deliveries // subscriptions
    await bulk_append(database_url, entities=events // 10, per_entity=10, prefix=f"hooks{first}")
    expected = events * subscriptions
    deadline = time.monotonic() + 300
    while (current := (await http.get(stats)).json())["count"] < expected:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {current['count']} of {expected} deliveries arrived")
        await asyncio.sleep(0.5)
    arrivals = current["arrivals"]
    return expected / (max(arrivals) - min(arrivals))


async def latency(
    http: httpx.AsyncClient,
    base: str,
    database_url: str,
    hook_url: str,
    rate: float,
    seconds: float,
    first: int,
) -> list[float]:
    await _subscribe(http, base, hook_url, 1)
    await http.post(hook_url.replace("/hook", "/reset"))
    pool = AsyncConnectionPool(
        database_url, min_size=2, max_size=8, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    journal = Journal(pool)
    total = int(rate * seconds)
    started = time.perf_counter()
    try:
        pending = []
        for n in range(total):
            await asyncio.sleep(max(0.0, started + n / rate - time.perf_counter()))
            append = PendingAppend(
                "patient", f"paced{first}-{n}", 1, [(uuid.uuid4(), VITALS_EVENT)], {}
            )
            pending.append(asyncio.create_task(journal.append(append)))
        await asyncio.gather(*pending)
    finally:
        await pool.close()
    deadline = time.monotonic() + 60
    while (current := (await http.get(hook_url.replace("/hook", "/stats"))).json())[
        "count"
    ] < total:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    return list(current["lags_ms"])
