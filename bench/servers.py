"""What the HTTP benchmarks share: a `sluice serve` process, admitted patients, and wrk."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

PATIENTS = 1000


@contextmanager
def sluice_server(database_url: str) -> Iterator[str]:
    """A `sluice serve` process on a free port (its log in the temp folder); yields its URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    log_path = Path(tempfile.gettempdir()) / f"sluice-bench-{port}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(port), "--no-migrate"],
            env={**os.environ, "DATABASE_URL": database_url},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_ready(base, process)
            yield base
        finally:
            process.terminate()
            process.wait(30)


def admit_patients(base: str) -> None:
    """p1..p1000, the patients the wrk scripts post vital signs for."""
    with httpx.Client(base_url=base, timeout=10) as http:
        for i in range(1, PATIENTS + 1):
            admit = {"name": f"Patient {i}", "ward": "W1", "bed": str(i)}
            http.post(f"/entities/patient/p{i}/admit", json=admit).raise_for_status()


def wrk(url: str, connections: int, seconds: float, script: Path | None) -> dict[str, float]:
    command = ["wrk", f"-t{min(2, connections)}", f"-c{connections}", f"-d{int(seconds)}s"]
    command += ["--latency", "--timeout", "5s"]
    if script:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
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


def _wait_ready(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sluice serve exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError("sluice serve did not become ready")
