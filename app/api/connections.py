"""HTTP connections: a deadline for each request's headers, and one write per response.

uvicorn closes a keep-alive connection left idle, but not one that sends a request slowly
(or connects and sends nothing): 1,500 half-sent requests were held open for as long as
their senders liked, each a socket and a protocol object. Here a connection must finish a
request's headers within ``header_timeout`` of its first byte (or of connecting), or it is
closed. Bodies are not covered: they are bounded by the body limit and the app's reads.

uvicorn writes a response's head and its body to the socket separately: two sends, two TCP
segments, and on loopback the sender's syscall also pays for the receiver's side of each.
At a few thousand commands per second that was the largest single cost in the process
(py-spy: ~15 % of an API process in ``RequestResponseCycle.send``). ``CoalescedWrites``
holds what is written during one turn of the event loop and sends it as one write at the
start of the next turn, so a response written in one go (every JSON response) leaves as one
segment, while a streamed response still leaves as each part is written.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

log = logging.getLogger("sluice.http")


class CoalescedWrites:
    """The connection's transport as the protocol sees it: writes made in one turn of the
    event loop go out together at the start of the next (or at once past ``limit`` bytes,
    before a close, and from the moment the connection is handed to a WebSocket: a response
    to a request pipelined before the upgrade must not follow the handshake)."""

    limit = 64 * 1024

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._size = 0
        self.direct = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self.direct:
            self.transport.write(data)
            return
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(bytes(data))
        self._size += len(data)
        if self._size >= self.limit:
            self.flush()

    def flush(self) -> None:
        if self._held:
            data = self._held[0] if len(self._held) == 1 else b"".join(self._held)
            self._held.clear()
            self._size = 0
            if not self.transport.is_closing():
                self.transport.write(data)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.transport, name)


class HeaderDeadlineProtocol(HttpToolsProtocol):
    header_timeout = 10.0  # set per server by ``with_header_timeout``

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._awaiting_headers = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescedWrites(transport, self.loop))  # type: ignore[arg-type]
        self._arm()

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes the connection over: it gets the real transport, and
        # a response still owed to an earlier (pipelined) request is written through at once.
        writes: CoalescedWrites = self.transport  # type: ignore[assignment]
        writes.flush()
        writes.direct = True
        self.transport = writes.transport
        super().handle_websocket_upgrade()

    def eof_received(self) -> bool | None:
        # A client that half-closes after its request (``nc -N``, some health checkers) has
        # the transport closed when this returns: what is held goes out first.
        if isinstance(self.transport, CoalescedWrites):
            self.transport.flush()
        return super().eof_received()  # type: ignore[func-returns-value]

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
