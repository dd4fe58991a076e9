"""A graceful stop (SIGTERM): hand everything over to the other processes, then finish.

uvicorn alone would close WebSocket clients with 1012 and no word on where to resume, and
keep this process's leadership (sequencer, consumers) until its lifespan ends, after every
in-flight request. The order here: stop accepting, tell each WebSocket client where to resume
(1001 with ``resume_after``), stop the workers, which releases their advisory locks so a
standby takes over at once, and only then let uvicorn finish the requests in flight (their
commands commit to the journal; the next sequencer numbers them).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Callable

import uvicorn
from fastapi import FastAPI

from app.runtime import Runtime

log = logging.getLogger("sluice")

WEBSOCKET_GOODBYE_SECONDS = 5.0


async def drain(runtime: Runtime) -> None:
    runtime.draining = True  # /readyz answers 503 from now on
    runtime.stopping.set()  # a stream's long polls answer now, not at their end
    for subscription in runtime.sockets:
        subscription.go_away()
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(WEBSOCKET_GOODBYE_SECONDS):
            while len(runtime.sockets):  # noqa: ASYNC110 - emptied by each route as it returns
                await asyncio.sleep(0.02)
    await runtime.stop()
    log.info("drained: WebSocket clients told where to resume, leadership released")


class DrainingServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, *, on_serving: Callable[[], None] | None = None):
        super().__init__(config)
        self.on_serving = on_serving

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_serving is not None:
            self.on_serving()

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:  # no new connections while draining
            server.close()
        app = self.config.app
        runtime = getattr(app.state, "runtime", None) if isinstance(app, FastAPI) else None
        if runtime is not None:
            try:
                await drain(runtime)
            except Exception:  # the rest of the shutdown must still happen
                log.exception("draining failed; shutting down regardless")
        await super().shutdown(sockets)
        # uvicorn then re-raises SIGTERM, which ends the process before atexit would flush
        for handler in logging.getLogger().handlers:
            handler.flush()
