"""Command -> view visible under load: the latency half of `python -m bench projection`.

A `sluice serve` process takes --rate record-vitals commands/s in all: wrk offers most of them
(paced, as in `bench relay`), the sampler the rest. The sampler alternates two probes, open
loop: POST a command then GET /views/ward-board/{id}?consistent_with=<its event_id> (POST
sent -> GET answered), or POST alone (the baseline: the same client's plain round trip).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

from app.services.ward.views import ward_board
from bench.relay import CONNECTIONS, EXPECTED_LATENCY_MS, PACED
from bench.report import median, percentile, table
from bench.servers import PATIENTS, admit_patients, sluice_server, wrk
from tests.support.auth import AUTH_HEADERS
from tests.support.ward import NORMAL_VITALS


@dataclass
class Samples:
    visible: list[float] = field(default_factory=list)  # ms, POST sent -> consistent GET answered
    posted: list[float] = field(default_factory=list)  # ms, POST alone
    # Non-200 answers by probe ("visible", "posted"); a 503 on the GET: not caught up in time.
    failed: Counter[str] = field(default_factory=Counter)


async def probe(http: httpx.AsyncClient, samples: Samples, patient: str, consistent: bool) -> None:
    started = time.perf_counter()
    reply = await http.post(f"/entities/patient/{patient}/record-vitals", json=NORMAL_VITALS)
    if reply.status_code == 200 and consistent:
        event_id = reply.json()["events"][0]["event_id"]
        params = {"consistent_with": event_id}
        reply = await http.get(f"/views/{ward_board.name}/{patient}", params=params)
    if reply.status_code != 200:
        samples.failed["visible" if consistent else "posted"] += 1
        return
    elapsed = (time.perf_counter() - started) * 1000
    (samples.visible if consistent else samples.posted).append(elapsed)


async def sample(base: str, seconds: float, rate: float) -> Samples:
    """Probes started on a fixed schedule (open loop): a slow answer does not delay the next."""
    rng, samples = random.Random(7), Samples()
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with httpx.AsyncClient(
        headers=AUTH_HEADERS, base_url=base, timeout=10, limits=limits
    ) as http:
        tasks, started = [], time.perf_counter()
        for index in range(int(seconds * rate)):
            await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
            patient = f"p{rng.randint(1, PATIENTS)}"
            tasks.append(asyncio.create_task(probe(http, samples, patient, index % 2 == 0)))
        await asyncio.gather(*tasks)
    return samples


async def under_load(base: str, args: argparse.Namespace) -> tuple[dict[str, float], Samples]:
    """The sampler runs inside wrk's window, a second in from each end."""
    wrk_rate = args.rate - args.sample_rate
    delay_ms = max(1, round(CONNECTIONS * 1000 / wrk_rate) - EXPECTED_LATENCY_MS)
    env = {"DELAY_MS": str(delay_ms)}
    load = asyncio.create_task(
        asyncio.to_thread(wrk, base, CONNECTIONS, args.seconds, PACED, env=env)
    )
    await asyncio.sleep(1.0)
    samples = await sample(base, args.seconds - 2, args.sample_rate)
    return await load, samples


def board_status(base: str) -> dict[str, Any]:
    reply = httpx.get(f"{base}/consumers/{ward_board.name}", timeout=10, headers=AUTH_HEADERS)
    reply.raise_for_status()
    return dict(reply.json())


def run(url: str, args: argparse.Namespace) -> None:
    with sluice_server(url) as base:
        admit_patients(base)
        deadline = time.monotonic() + 30
        while board_status(base)["lag_events"] and time.monotonic() < deadline:
            time.sleep(0.1)
        load, samples = asyncio.run(under_load(base, args))
        status = board_status(base)
    achieved = load["rps"] + args.sample_rate
    table(
        f"command -> ward-board visible (ms): {achieved:.0f} commands/s achieved of "
        f"{args.rate:.0f} offered, {args.seconds:.0f} s, `sluice serve`",
        ["what", "samples", "p50", "p99", "max", "non-2xx"],
        [
            ["POST (wrk, paced)", "", load["p50"], load["p99"], "", int(load["errors"])],
            ["POST (sampler: the baseline)", *_stats(samples.posted), samples.failed["posted"]],
            ["POST -> GET ?consistent_with", *_stats(samples.visible), samples.failed["visible"]],
        ],
    )
    p99, ratio = percentile(samples.visible, 0.99), median(samples.visible)
    ratio /= median(samples.posted)
    print(
        f"\np99 command -> view visible = {p99:.1f} ms (target < 100 ms); its p50 is"
        f" {ratio:.1f}x the plain POST's; ward-board after the load: {status['state']},"
        f" {status['lag_events']} events behind"
    )


def _stats(values: list[float]) -> list[object]:
    top = max(values, default=float("nan"))
    return [len(values), median(values), percentile(values, 0.99), top]
