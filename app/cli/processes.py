"""``sluice serve --workers N``: N processes serving one port, watched over by this one.

Python runs one thread of Python at a time, so one process uses one core. Here the parent
binds the port, does once what must happen once (migrations before it, the first API key),
then starts N children, each a fresh interpreter (spawned: nothing inherited but the socket)
with its own pool, serving from the shared socket while the kernel spreads connections among
them. Leadership stays as it is across processes: one sequencer and one leader per consumer,
whichever child holds the lock.

The parent restarts a child that dies once it was serving; a child that dies before it ever
served is broken the same way every time (its service, its settings), so the group stops with
an error instead of restarting it forever. SIGTERM or Ctrl-C: each child drains as a lone
`sluice serve` does (WebSocket clients told where to resume, leadership handed over), then the
parent exits and, last, stops the embedded PostgreSQL (atexit). A child whose parent vanished
(kill -9) stops itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from dataclasses import dataclass
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event

from app.settings import Settings

log = logging.getLogger("sluice")

# A process's connections besides its pool: the LISTEN connection, leadership's session
# (advisory locks) and the sequencer's.
CONNECTIONS_BESIDES_THE_POOL = 3
# What the server still takes: its limit, less the superusers' reserve and what is open now.
ALLOWED_CONNECTIONS = """
SELECT current_setting('max_connections')::int
     - current_setting('superuser_reserved_connections')::int
     - (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend')
"""
STOP_SECONDS = 30.0  # a child's drain is bounded well below this (10 s for requests)
PARENT_CHECK_SECONDS = 1.0


def bind(host: str, port: int) -> socket.socket:
    """The listening socket every child accepts on (as uvicorn binds its own)."""
    import uvicorn

    config = uvicorn.Config("app.main:create_app", host=host, port=port, log_config=None)
    return config.bind_socket()


async def _prepare_once(settings: Settings, url: str, count: int) -> None:
    """What N children must not each do: make the first key (they would race), and check
    that the server takes the connections N pools may open."""
    from app.assembly import first_start_folder, open_pool
    from app.keys.bootstrap import prepare_keys
    from app.keys.store import KeyStore

    pool = await open_pool(settings.but(pool_min_size=1, pool_max_size=1), url)
    try:
        await prepare_keys(
            KeyStore(pool),
            admin_key=settings.keys.admin_key,
            first_start_in=first_start_folder(settings),
        )
        async with pool.connection() as conn:
            row = await (await conn.execute(ALLOWED_CONNECTIONS)).fetchone()
    finally:
        await pool.close()
    allowed = int(row[0]) if row else 0
    wanted = count * (settings.database.pool_max_size + CONNECTIONS_BESIDES_THE_POOL)
    if wanted > allowed:
        log.warning(
            "%d processes may open up to %d connections (SLUICE_POOL_MAX_SIZE=%d each, plus"
            " %d of their own), but the server takes %d more: under load some will wait or"
            " fail. Lower SLUICE_WORKERS or SLUICE_POOL_MAX_SIZE, or raise the server's"
            " max_connections",
            count,
            wanted,
            settings.database.pool_max_size,
            CONNECTIONS_BESIDES_THE_POOL,
            allowed,
        )


@dataclass
class Child:
    process: SpawnProcess
    serving: Event  # set once its server accepts connections


class ProcessGroup:
    def __init__(self, settings: Settings, url: str, sock: socket.socket, count: int) -> None:
        self.settings, self.url, self.sock, self.count = settings, url, sock, count
        self.context = multiprocessing.get_context("spawn")
        self.children: list[Child] = []
        self.stopping = threading.Event()

    def run(self) -> int:
        """Serve until SIGTERM or Ctrl-C; 0, or 1 if a child could not start."""
        asyncio.run(_prepare_once(self.settings, self.url, self.count))
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: self.stopping.set())
        self.children = [self._start() for _ in range(self.count)]
        log.info("serving with %d processes (role %s)", self.count, self.settings.process.role)
        failed = False
        while not self.stopping.wait(0.5):
            failed = not self._keep_alive()
            if failed:
                break
        self._stop_all()
        return 1 if failed else 0

    def _start(self) -> Child:
        serving = self.context.Event()
        process = self.context.Process(
            target=serve_child,
            args=(self.settings, self.url, self.sock, serving, os.getpid()),
            name="sluice-serve",
        )
        process.start()
        return Child(process, serving)

    def _keep_alive(self) -> bool:
        """Restart a child that died after it was serving, or was killed (by a signal) at any
        time; False if one failed on its own before it served."""
        for index, child in enumerate(self.children):
            if child.process.is_alive():
                continue
            code = child.process.exitcode
            if not child.serving.is_set() and code is not None and code >= 0:
                log.error("a serving process exited (code %s) before it started serving", code)
                return False
            log.warning(
                "a serving process (pid %s) exited (code %s): restarting it",
                child.process.pid,
                code,
            )
            self.children[index] = self._start()
        return True

    def _stop_all(self) -> None:
        for child in self.children:
            if child.process.is_alive():
                os.kill(child.process.pid, signal.SIGTERM)  # type: ignore[arg-type]
        deadline = time.monotonic() + STOP_SECONDS
        for child in self.children:
            child.process.join(max(0.0, deadline - time.monotonic()))
            if child.process.is_alive():
                log.error("pid %s did not stop in %ss: killed", child.process.pid, STOP_SECONDS)
                child.process.kill()
                child.process.join()
        self.sock.close()


def serve_child(
    settings: Settings, url: str, sock: socket.socket, serving: Event, parent: int
) -> None:
    """One child: the app, served from the parent's socket (in a fresh interpreter)."""
    from app.api.logs import configure_logging
    from app.cli.serve import exit_normally, server_config
    from app.main import create_app
    from app.sdk.service import load_service
    from app.shutdown import DrainingServer

    configure_logging(settings.logs.level, settings.logs.format)
    threading.Thread(target=_stop_when_orphaned, args=(parent,), daemon=True).start()
    signal.signal(signal.SIGTERM, exit_normally)
    service = load_service(settings.service)
    app = create_app(settings, service=service, database_url=url, seed_keys=False)
    server = DrainingServer(server_config(settings, app, None, None), on_serving=serving.set)
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C at a terminal reaches every child
        server.run(sockets=[sock])


def _stop_when_orphaned(parent: int) -> None:
    """The parent was killed (no SIGTERM from it will come): drain and stop, as on SIGTERM."""
    while os.getppid() == parent:
        time.sleep(PARENT_CHECK_SECONDS)
    log.warning("the parent process is gone: stopping")
    os.kill(os.getpid(), signal.SIGTERM)
