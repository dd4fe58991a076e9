"""Real servers for tests: uvicorn in a thread on 127.0.0.1, and `sluice serve` subprocesses."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI

from tests.support.auth import ADMIN_KEY


def postgres_running_in(data_dir: Path) -> bool:
    """Whether an embedded PostgreSQL still runs on ``data_dir``."""
    import psutil

    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and str(data_dir) in cmdline:
            return True
    return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Server(uvicorn.Server):
    """uvicorn, with the part of `sluice serve`'s drain a test server needs: another
    service's long poll is answered when this one stops, instead of holding its thread
    (and the test) for the poll's whole wait."""

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        runtime = getattr(self.config.app.state, "runtime", None)
        if runtime is not None:
            runtime.stopping.set()
        await super().shutdown(sockets)


@contextmanager
def uvicorn_in_thread(app: FastAPI, port: int | None = None, **options: Any) -> Iterator[str]:
    """Serve ``app`` on a real socket from a background thread; yields its base URL.
    ``options``: more of uvicorn's Config (``http=`` a protocol class, say)."""
    port = port or free_port()
    # httpx drops a connection idle for 5 s; uvicorn closes one idle for 5 s by default. With
    # both at 5 s, a request sent on a pooled connection just as the server closes it fails
    # with a ReadError (seen once in a whole run). The server keeps them longer, so the
    # client always lets go first.
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_keep_alive=30,
        **options,
    )
    server = _Server(config)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


class SluiceProcess:
    """A `sluice serve` child process, as a user would run it."""

    def __init__(
        self, env: dict[str, str], cwd: Path, port: int | None = None, *options: str
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = cwd / f"sluice-{self.port}.log"
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "serve", "--port", str(self.port), *options],
            env={**os.environ, "SLUICE_ADMIN_KEY": ADMIN_KEY, **env},
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"sluice exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"sluice not ready in {timeout}s:\n{self.log()}")

    def interrupt(self, timeout: float = 30) -> int:
        """Ctrl-C, as at a terminal; returns the exit code."""
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)

    def terminate(self) -> None:
        """SIGTERM, as an orchestrator stops a container; returns at once."""
        self.process.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.process.kill()
        self.process.wait(10)

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")[-5000:]

    def close(self) -> None:
        if self.process.poll() is None:
            self.kill()
        self._log.close()
