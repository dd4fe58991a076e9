"""Connections that cannot hold the server hostage: a deadline for each request's headers.

uvicorn closes a keep-alive connection left idle, but not one that sends a request slowly
(or connects and sends nothing): 1,500 half-sent requests were held open for as long as
their senders liked, each a socket and a protocol object. Here a connection must finish a
request's headers within ``header_timeout`` of its first byte (or of connecting), or it is
closed. Bodies are not covered: they are bounded by the body limit and the app's reads.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("sluice.http")


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout = 10.0  # set per server by ``with_header_timeout``

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting_headers = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._awaiting_headers and self._deadline is None:
            self._arm()  # the next request on a kept-alive connection has begun
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._awaiting_headers = False
        self._disarm()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        # A pipelined request already has its headers; otherwise idle until the next byte
        # (uvicorn's keep-alive timeout covers the idle time).
        self._awaiting_headers = not self.pipeline
        super().on_response_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self.header_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if self._awaiting_headers and not self.transport.is_closing():
            log.info("closed a connection that sent no complete request headers in time")
            self.transport.close()


def with_header_timeout(seconds: float) -> type[HeaderDeadlineProtocol]:
    """The protocol class for one server, its deadline set (uvicorn takes a class)."""
    return type("HeaderDeadline", (HeaderDeadlineProtocol,), {"header_timeout": seconds})
