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
import subprocess
import tempfile
from pathlib import Path

from bench.append import LUA
from bench.database import bench_database
from bench.report import table
from bench.servers import BENCH_ENV, admit_patients, wrk
from tests.support.servers import SluiceProcess

ROOT = Path(__file__).resolve().parents[1]
BEFORE_KEYS = "6a51497"


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench overhead")
    parser.add_argument("--against", default=BEFORE_KEYS, help="the baseline revision")
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        worktree = Path(scratch) / "baseline"
        git = ["git", "-C", str(ROOT)]
        subprocess.run([*git, "worktree", "add", "-f", str(worktree), args.against], check=True)
        try:
            variants = {
                f"baseline ({args.against})": {"PYTHONPATH": str(worktree)},
                "now, defaults": {},
                "now, no access log": {"SLUICE_ACCESS_LOG": "false"},
                "now, no info lines": {"SLUICE_ACCESS_LOG": "false", "SLUICE_LOG_LEVEL": "warning"},
            }
            runs = measure(variants, args.trials, args.seconds)
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(worktree)], check=False)
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
                process = SluiceProcess(
                    {"DATABASE_URL": url, **BENCH_ENV, **env}, Path(tempfile.gettempdir())
                )
                try:
                    process.wait_ready()
                    admit_patients(process.url)
                    runs[name].append(wrk(process.url, 32, seconds, LUA))
                finally:
                    process.process.terminate()
                    process.process.wait(30)
                    process.close()
    return runs
