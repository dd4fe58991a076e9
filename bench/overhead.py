"""What the command path costs now against an earlier revision, and what logging costs.

    python -m bench overhead [--against REV] [--trials 4] [--seconds 10]

Each variant is a `sluice serve` on a fresh database taking `record-vitals` from wrk (32
connections) over 1,000 admitted patients; variants are interleaved trial by trial so the
box's drift touches them alike. The baseline is REV (default: the commit before API keys,
logs and metrics), checked out into a temporary git worktree and run from there.
"""

from __future__ import annotations

import argparse
import statistics

from bench.append import LUA
from bench.database import bench_database
from bench.report import table
from bench.servers import admit_patients, sluice_process, worktree, wrk

BEFORE_KEYS = "6a51497"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench overhead")
    parser.add_argument("--against", default=BEFORE_KEYS, help="the baseline revision")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    with worktree(args.against) as baseline:
        variants = {
            f"baseline ({args.against})": {"PYTHONPATH": str(baseline)},
            "now, defaults": {},
            "now, no access log": {"SLUICE_ACCESS_LOG": "false"},
            "now, no info lines": {"SLUICE_ACCESS_LOG": "false", "SLUICE_LOG_LEVEL": "warning"},
        }
        runs = measure(variants, args.trials, args.seconds)
    baseline = statistics.median(r["rps"] for r in runs[next(iter(variants))])
    rows = []
    for name, results in runs.items():
        rps = statistics.median(r["rps"] for r in results)
        p50 = statistics.median(r["p50"] for r in results)
        p99 = statistics.median(r["p99"] for r in results)
        rows.append([name, f"{rps:,.0f}", f"{p50:.1f}", f"{p99:.1f}", f"{rps / baseline:.2f}"])
    title = f"record-vitals over HTTP, medians of {args.trials} interleaved trials"
    table(title, ["build", "commands/s", "p50 ms", "p99 ms", "vs baseline"], rows)
    return 0


def measure(
    variants: dict[str, dict[str, str]], trials: int, seconds: float
) -> dict[str, list[dict[str, float]]]:
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in variants}
    with bench_database() as database:
        for _ in range(trials):
            for name, env in variants.items():
                # no migration here: each build migrates its own schema as it starts
                url = database.fresh("overhead", migrate=False)
                with sluice_process({"DATABASE_URL": url, **env}) as process:
                    admit_patients(process.url)
                    runs[name].append(wrk(process.url, 32, seconds, LUA))
    return runs
