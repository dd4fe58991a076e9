"""A small HTTP/1.1 client for webhook POSTs: keep-alive connections per subscription.

Webhook delivery asks little of HTTP: one POST with a known body, the status, a few headers
and the first KiB of the answer. httpx does that with a general machinery (a pool state
machine, h11 events, a request/response model) that measured here at ~1.5 ms of CPU per
request, more than everything else a delivery costs together; this one parses the answer
with a handful of bytes operations. What it leaves out is what webhooks must not do anyway:
no redirects, no proxies, no cookies, no decompression, no HTTP/2.

The caller bounds the whole attempt with one timeout; a connection caught in a timeout or an
error is closed, never reused.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import ssl
from collections import defaultdict
from dataclasses import dataclass, field

MAX_HEAD_BYTES = 64 * 1024  # status line and headers
MAX_DRAIN_BYTES = 1024 * 1024  # read (and drop) at most this much of a body to keep a connection


class ProtocolError(ConnectionError):
    """The peer's answer is not HTTP/1.x as we can read it."""


@dataclass(frozen=True)
class Target:
    """Where to connect (the checked address) and what the TLS handshake must verify."""

    address: str
    port: int
    tls_hostname: str | None  # None: plain http


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    first_bytes: bytes


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def still_open(self) -> bool:
        """Idle, so nothing may be readable: a readable socket means the server closed it
        (or sent what we never asked for), even before the event loop noticed."""
        if self.reader.at_eof() or self.writer.is_closing():
            return False
        sock = self.writer.get_extra_info("socket")
        if sock is None:
            return True
        try:
            readable, _, _ = select.select([sock.fileno()], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


@dataclass
class Http1Pool:
    """Idle keep-alive connections, by target; at most ``max_idle`` kept per target."""

    max_idle: int
    _idle: dict[Target, list[_Connection]] = field(default_factory=lambda: defaultdict(list))
    tls: ssl.SSLContext | None = None  # whom to trust; unset: the system's CAs

    async def post(
        self, target: Target, request_head: bytes, body: bytes, keep_bytes: int
    ) -> Answer:
        connection = self._take_idle(target) or await self._connect(target)
        return await self._exchange(target, connection, request_head, body, keep_bytes)

    def _take_idle(self, target: Target) -> _Connection | None:
        """An idle connection the server has not closed meanwhile. No request is ever sent
        twice by this client: one that fails on a connection closed just then is a failed
        attempt, retried on the delivery's schedule like any other."""
        idle = self._idle[target]
        while idle:
            connection = idle.pop()
            if connection.still_open():
                return connection
            connection.close()
        return None

    async def __aenter__(self) -> Http1Pool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    async def _connect(self, target: Target) -> _Connection:
        if target.tls_hostname is None:
            reader, writer = await asyncio.open_connection(target.address, target.port)
        else:
            if self.tls is None:
                self.tls = ssl.create_default_context()
            reader, writer = await asyncio.open_connection(
                target.address,
                target.port,
                ssl=self.tls,
                server_hostname=target.tls_hostname,  # verified against the URL's host
            )
        return _Connection(reader, writer)

    async def _exchange(
        self,
        target: Target,
        connection: _Connection,
        request_head: bytes,
        body: bytes,
        keep_bytes: int,
    ) -> Answer:
        try:
            connection.writer.write(request_head + body)
            status, headers, keep_alive = await _read_head(connection.reader)
            first_bytes, complete = await _read_body(connection.reader, headers, keep_bytes)
        except BaseException:
            connection.close()
            raise
        if keep_alive and complete and len(self._idle[target]) < self.max_idle:
            self._idle[target].append(connection)
        else:
            connection.close()
        return Answer(status, headers, first_bytes)


def request_head(path: str, headers: dict[str, str], body_length: int) -> bytes:
    lines = [f"POST {path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"content-length: {body_length}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bool]:
    while True:  # skip any 1xx interim answers
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except asyncio.LimitOverrunError:
            raise ProtocolError("the answer's headers are too long") from None
        if len(raw) > MAX_HEAD_BYTES:
            raise ProtocolError("the answer's headers are too long")
        status_line, _, rest = raw.partition(b"\r\n")
        parts = status_line.split(b" ", 2)
        if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP/1.x answer: {status_line[:80]!r}")
        status = int(parts[1])
        if 100 <= status < 200:
            continue
        headers = {}
        for line in rest.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            if colon:
                headers[name.strip().lower().decode("latin-1")] = value.strip().decode("latin-1")
        keep_alive = parts[0] == b"HTTP/1.1" and headers.get("connection", "").lower() != "close"
        return status, headers, keep_alive


async def _read_body(
    reader: asyncio.StreamReader, headers: dict[str, str], keep_bytes: int
) -> tuple[bytes, bool]:
    """The body's first ``keep_bytes``, and whether it was read to its end (so the
    connection can serve again). A large body is dropped as it is read, up to a bound."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _read_chunked(reader, keep_bytes)
    length_text = headers.get("content-length")
    if length_text is None:  # the body runs to the connection's end: keep the start only
        kept = b""
        while len(kept) < keep_bytes and (more := await reader.read(keep_bytes - len(kept))):
            kept += more
        return kept, False
    if not length_text.isdigit():
        raise ProtocolError(f"bad content-length {length_text[:20]!r}")
    length = int(length_text)
    if length > MAX_DRAIN_BYTES:
        return await reader.readexactly(min(length, keep_bytes)), False
    body = await reader.readexactly(length)
    return body[:keep_bytes], True


async def _read_chunked(reader: asyncio.StreamReader, keep_bytes: int) -> tuple[bytes, bool]:
    kept, total = bytearray(), 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise ProtocolError("bad chunk size") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(kept), True
        total += size
        if total > MAX_DRAIN_BYTES:
            return bytes(kept), False
        chunk = await reader.readexactly(size + 2)
        if len(kept) < keep_bytes:
            kept += chunk[: min(size, keep_bytes - len(kept))]
