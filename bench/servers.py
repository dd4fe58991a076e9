"""What the HTTP benchmarks share: a `sluice serve` process, admitted patients, and wrk."""

from __future__ import annotations

import os
import re
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.support.auth import AUTH_HEADERS
from tests.support.servers import SluiceProcess

ROOT = Path(__file__).resolve().parents[1]
PATIENTS = 1000
# Benchmarks measure the server's ceiling from one key: its rate limit would be the ceiling.
BENCH_ENV = {"SLUICE_RATE_LIMIT_PER_SECOND": "0"}


@contextmanager
def sluice_server(database_url: str) -> Iterator[str]:
    """A `sluice serve` process on a free port (its log in the temp folder); yields its URL."""
    with sluice_process({"DATABASE_URL": database_url}) as process:
        yield process.url


@contextmanager
def sluice_process(env: Mapping[str, str], *options: str) -> Iterator[SluiceProcess]:
    """`sluice serve` with ``options``, ready, stopped by SIGTERM at the end (its log in the
    temp folder)."""
    process = SluiceProcess({**BENCH_ENV, **env}, Path(tempfile.gettempdir()), None, *options)
    try:
        process.wait_ready(120)
        yield process
    finally:
        process.process.terminate()
        process.process.wait(60)
        process.close()


@contextmanager
def worktree(revision: str) -> Iterator[Path]:
    """``revision`` checked out into a temporary git worktree (a baseline to run from)."""
    with tempfile.TemporaryDirectory() as scratch:
        path = Path(scratch) / "baseline"
        git = ["git", "-C", str(ROOT)]
        subprocess.run([*git, "worktree", "add", "-f", str(path), revision], check=True)
        try:
            yield path
        finally:
            subprocess.run([*git, "worktree", "remove", "--force", str(path)], check=False)


def admit_patients(base: str) -> None:
    """p1..p1000, the patients the wrk scripts post vital signs for."""
    with httpx.Client(headers=AUTH_HEADERS, base_url=base, timeout=10) as http:
        for i in range(1, PATIENTS + 1):
            admit = {"name": f"Patient {i}", "ward": "W1", "bed": str(i)}
            http.post(f"/entities/patient/p{i}/admit", json=admit).raise_for_status()


def wrk(
    url: str,
    connections: int,
    seconds: float,
    script: Path | None,
    *,
    env: Mapping[str, str] | None = None,
) -> dict[str, float]:
    """``env``: variables for the script (e.g. paced_vitals.lua's DELAY_MS)."""
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(seconds)}s"]
    command += [
        "--latency",
        "--timeout",
        "5s",
        "-H",
        f"Authorization: {AUTH_HEADERS['Authorization']}",
    ]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run(
        [*command, url],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **env} if env else None,
    ).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rps": float(_find(r"Requests/sec:\s+([\d.]+)", output)),
        "p50": _ms(_find(r"50%\s+([\d.]+\w+)", output)),
        "p99": _ms(_find(r"99%\s+([\d.]+\w+)", output)),
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def _find(pattern: str, text: str) -> str:
    found = re.search(pattern, text)
    if found is None:
        raise RuntimeError(f"wrk printed no {pattern!r}:\n{text}")
    return found.group(1)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]
