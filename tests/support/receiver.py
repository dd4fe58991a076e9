"""A webhook receiver on 127.0.0.1 that can misbehave on purpose.

A raw asyncio HTTP/1.1 server (not an ASGI app) so it can do what real receivers do wrong:
answer any status, never answer, reset the connection mid-request, or write any bytes at all
(an answer no HTTP library would produce) and close.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

# A behaviour: an HTTP status, "hang" (never answer), "reset" (RST the connection),
# ("slow", seconds) (answer 200 after that long), or bytes (written as they are, then the
# connection closed: its framing is in doubt).
Behaviour = int | str | tuple[str, float] | bytes


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float
    answered: Behaviour

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Receiver:
    """``plan(request) -> behaviour``; the default answers 200."""

    plan: Callable[[Received], Behaviour] = lambda request: 200
    requests: list[Received] = field(default_factory=list)
    port: int = 0
    _server: asyncio.Server | None = None
    _handlers: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        for handler in list(self._handlers):
            handler.cancel()
        await asyncio.gather(*self._handlers, return_exceptions=True)
        await self._server.wait_closed()

    def succeeded(self) -> list[Received]:
        return [r for r in self.requests if isinstance(r.answered, int) and r.answered < 300]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                request = await _read_request(reader)
                if request is None:
                    return
                behaviour = self.plan(request)
                request.answered = behaviour
                self.requests.append(request)
                if behaviour == "reset":
                    _reset(writer)
                    return
                if behaviour == "hang":
                    await asyncio.sleep(3600)
                    return
                if isinstance(behaviour, bytes):
                    writer.write(behaviour)
                    await writer.drain()
                    return
                await self._respond(writer, request, behaviour)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            return
        finally:
            self._handlers.discard(task)
            if not writer.is_closing():
                writer.close()

    async def _respond(
        self, writer: asyncio.StreamWriter, request: Received, behaviour: Behaviour
    ) -> None:
        """Answer a request that is neither reset nor left hanging."""
        if isinstance(behaviour, tuple):
            await asyncio.sleep(behaviour[1])
            behaviour = 200
        await _answer(writer, int(behaviour))


def fail_first(count: int, failures: list[Behaviour]) -> Callable[[Received], Behaviour]:
    """The first ``count`` requests get ``failures`` in turn, then 200."""
    seen = 0

    def plan(request: Received) -> Behaviour:
        nonlocal seen
        seen += 1
        return failures[(seen - 1) % len(failures)] if seen <= count else 200

    return plan


def flaky(rate: float, seed: int = 7) -> Callable[[Received], Behaviour]:
    chance = random.Random(seed)
    return lambda request: 500 if chance.random() < rate else 200


async def _read_request(reader: asyncio.StreamReader) -> Received | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    lines = head.decode("latin-1").split("\r\n")
    path = lines[0].split(" ")[1]
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Received(path, headers, body, time.monotonic(), 0)


async def _answer(writer: asyncio.StreamWriter, status: int) -> None:
    body = b'{"ok": true}' if status < 300 else b'{"error": "nope"}'
    writer.write(
        f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\n\r\n".encode()
        + body
    )
    await writer.drain()


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()
