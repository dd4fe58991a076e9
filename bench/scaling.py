"""Using every core: process layouts, and the CPU one command costs.

    python -m bench scaling [--trials 3] [--seconds 10] [--rate 1000] [--against REV]

Each layout is `sluice serve` process(es) on a fresh database with 1,000 admitted patients and
the whole pipeline running (views, the vitals action, the webhook dispatcher):
  * one process, `--workers 1 --role all` (the baseline: what main ran);
  * `--workers 2 --role all`: two processes on one port, each also standing by as a worker;
  * `--workers 2 --role api` next to one `--role workers`: the command side and the
    consumer side apart;
  * one process with SLUICE_CONSUMER_MAX_INTERVAL_SECONDS=0.01: the consumers' pacing
    fixed at 10 ms, as before it grew with the load (up to 50 ms by default: fewer, bigger
    batches while the process is busy);
  * with --against REV, REV's one process and its `--workers 2`, from a git worktree.
For each: wrk at 32 connections as fast as it goes (commands/s, p50, p99); then wrk offering
--rate commands/s (paced, random think times), and the CPU time the layout's Sluice processes
(and, apart, PostgreSQL's) spent in that window, divided by the commands it appended: µs of
CPU per command, for the api side and the workers side. Layouts are interleaved trial by
trial; the figures are medians.
"""

from __future__ import annotations

import argparse
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bench.append import LUA
from bench.database import bench_database
from bench.report import median, table
from bench.servers import admit_patients, sluice_process, worktree, wrk
from tests.support.servers import SluiceProcess

PACED = Path(__file__).with_name("paced_vitals.lua")
CONNECTIONS = 32
TICK = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Layout:
    name: str
    api: tuple[str, ...]  # `sluice serve` options of the process taking the requests
    workers: tuple[str, ...] | None = None  # a separate workers process, if any
    env: tuple[tuple[str, str], ...] = ()


def layouts(against: str | None, worktree: Path | None) -> list[Layout]:
    found = [
        Layout("1 process, role all", ()),
        Layout("--workers 2, role all", ("--workers", "2")),
        Layout("1 api + 1 workers", ("--role", "api"), ("--role", "workers")),
        Layout(
            "--workers 2 api + 1 workers",
            ("--workers", "2", "--role", "api"),
            ("--role", "workers"),
        ),
        # Not a layout but the pacing before it adapted to load: a caught-up consumer's
        # batches every 10 ms however busy the process (the default paces up to 50 ms).
        Layout(
            "1 process, pacing fixed at 10 ms",
            (),
            env=(("SLUICE_CONSUMER_MAX_INTERVAL_SECONDS", "0.01"),),
        ),
    ]
    if against and worktree:
        code = (("PYTHONPATH", str(worktree)),)
        found[:0] = [
            Layout(f"{against}: 1 process", (), None, code),
            Layout(f"{against}: --workers 2", ("--workers", "2"), None, code),
        ]
    return found


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench scaling")
    parser.add_argument("--trials", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--rate", type=int, default=1000, help="offered commands/s for the CPU")
    parser.add_argument("--against", help="also REV's 1 process and --workers 2 (a worktree)")
    args = parser.parse_args(argv)
    with ExitStack() as stack:
        baseline = stack.enter_context(worktree(args.against)) if args.against else None
        chosen = layouts(args.against, baseline)
        results: dict[str, list[dict[str, float]]] = {layout.name: [] for layout in chosen}
        with bench_database() as database:
            for _ in range(args.trials):
                for layout in chosen:
                    url = database.fresh("scaling", migrate=False)
                    results[layout.name].append(measure(layout, url, args.seconds, args.rate))
    report(results, args)
    return 0


def measure(layout: Layout, url: str, seconds: float, rate: int) -> dict[str, float]:
    env = {"DATABASE_URL": url, **dict(layout.env)}
    with ExitStack() as processes:
        front = processes.enter_context(sluice_process(env, *layout.api))
        back = None
        if layout.workers is not None:
            back = processes.enter_context(sluice_process(env, *layout.workers))
        admit_patients(front.url)
        saturated = wrk(front.url, CONNECTIONS, seconds, LUA)
        # The paced window: CPU per command at a rate every layout keeps up with.
        delay = CONNECTIONS * 1000 / rate
        before = _cpu(front, back), _appended(url)
        started = time.monotonic()
        wrk(front.url, CONNECTIONS, seconds, PACED, env={"DELAY_MS": f"{delay:.3f}"})
        _wait_consumed(url)
        elapsed = time.monotonic() - started
        after = _cpu(front, back), _appended(url)
    commands = after[1] - before[1]
    api, workers, postgres = (
        (end - start) / commands * 1e6 for start, end in zip(before[0], after[0], strict=True)
    )
    return {
        **saturated,
        "offered": commands / elapsed,
        "api_us": api,
        "workers_us": workers,
        "postgres_us": postgres,
    }


def _cpu(front: SluiceProcess, back: SluiceProcess | None) -> tuple[float, float, float]:
    """CPU seconds so far: the front process (and its children), the workers process (and
    its), PostgreSQL's server processes."""
    table_ = _process_table()
    api = _tree_cpu(table_, front.process.pid)
    workers = _tree_cpu(table_, back.process.pid) if back else 0.0
    postgres = sum(cpu for _, name, cpu in table_.values() if name == "postgres")
    return api, workers, postgres


def _process_table() -> dict[int, tuple[int, str, float]]:
    """pid → (parent pid, command name, CPU seconds), from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:
            continue
        name = raw[raw.index("(") + 1 : raw.rindex(")")]
        fields = raw[raw.rindex(")") + 2 :].split()
        found[int(entry.name)] = (int(fields[1]), name, (int(fields[11]) + int(fields[12])) / TICK)
    return found


def _tree_cpu(table_: dict[int, tuple[int, str, float]], root: int) -> float:
    total, frontier = 0.0, [root]
    while frontier:
        pid = frontier.pop()
        total += table_.get(pid, (0, "", 0.0))[2]
        frontier += [child for child, (parent, _, _) in table_.items() if parent == pid]
    return total


def _appended(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT count(*) FROM events").fetchone()
    return int(row[0]) if row else 0


def _wait_consumed(url: str, timeout: float = 60) -> None:
    """Until every event is numbered and every local consumer is at the head, so the
    workers' CPU for the window's commands is all counted."""
    query = """
        SELECT (SELECT count(*) FROM events WHERE seq IS NULL)
             + (SELECT count(*) FROM checkpoints
                WHERE upstream IS NULL AND position < (SELECT coalesce(max(seq), 0) FROM events))
    """
    deadline = time.monotonic() + timeout
    with psycopg.connect(url) as conn:
        while time.monotonic() < deadline:
            row = conn.execute(query).fetchone()
            if row and row[0] == 0:
                return
            time.sleep(0.05)
    raise RuntimeError("the consumers did not catch up within a minute")


def report(results: dict[str, list[dict[str, float]]], args: argparse.Namespace) -> None:
    names = list(results)
    baseline = next(name for name in names if name == "1 process, role all")
    base_rps = median([r["rps"] for r in results[baseline]])
    rows = []
    for name in names:
        runs = results[name]
        rps = median([r["rps"] for r in runs])
        rows.append(
            [
                name,
                f"{rps:,.0f}",
                f"{median([r['p50'] for r in runs]):.1f}",
                f"{median([r['p99'] for r in runs]):.1f}",
                f"{rps / base_rps:.2f}",
            ]
        )
    table(
        f"record-vitals, wrk {CONNECTIONS} connections, whole pipeline, medians of {args.trials}",
        ["layout", "commands/s", "p50 ms", "p99 ms", "vs 1 process"],
        rows,
    )
    base_cpu = median([r["api_us"] + r["workers_us"] for r in results[baseline]])
    rows = []
    for name in names:
        runs = results[name]
        api, workers = median([r["api_us"] for r in runs]), median([r["workers_us"] for r in runs])
        sluice = median([r["api_us"] + r["workers_us"] for r in runs])
        rows.append(
            [
                name,
                f"{median([r['offered'] for r in runs]):,.0f}",
                f"{api:.0f}",
                f"{workers:.0f}" if workers else "-",
                f"{sluice:.0f}",
                f"{median([r['postgres_us'] for r in runs]):.0f}",
                f"{sluice / base_cpu:.2f}",
            ]
        )
    table(
        f"CPU per command at {args.rate:,}/s offered (µs; api = the process wrk talks to)",
        ["layout", "commands/s", "api", "workers", "Sluice", "PostgreSQL", "vs 1 process"],
        rows,
    )
