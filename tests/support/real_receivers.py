"""Webhook receivers built with real HTTP servers, answering as receivers do: uvicorn with
Starlette (on both its HTTP parsers, httptools and h11), aiohttp, and Python's http.server in
a thread. Each records the client port of every request, so a test can see which ones shared
a kept-alive connection.

Every server answers ``POST /<kind>``; ``ANSWERS`` are the kinds all of them write alike
(each framework adds its own Date, Server, content-type), plus ``chunked`` (three chunks of
700 bytes), ``close`` (``Connection: close``), and from http.server only ``to-the-end`` (an
HTTP/1.0 answer whose body runs to the connection's end) and ``no-length-close`` (the same in
HTTP/1.1 with ``Connection: close``).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import uvicorn
from aiohttp import web
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

# kind -> (status, headers, body)
ANSWERS: dict[str, tuple[int, dict[str, str], bytes]] = {
    "ok": (200, {"content-type": "application/json"}, b'{"ok":true}'),
    "created": (201, {"content-type": "application/json"}, b'{"id":1}'),
    "accepted": (202, {}, b""),
    "no-content": (204, {}, b""),  # no Content-Length: RFC 9112 §6.3, no body after a 204
    "moved": (302, {"location": "/elsewhere"}, b""),
    "gone": (410, {}, b"gone"),
    "slow-down": (429, {"retry-after": "2"}, b"slow down"),
}
CHUNKS = (b"a" * 700, b"b" * 700, b"c" * 700)


@dataclass
class RealReceiver:
    base_url: str = ""
    paths: list[str] = field(default_factory=list)
    client_ports: list[int] = field(default_factory=list)

    def record(self, path: str, client_port: int) -> None:
        self.paths.append(path)
        self.client_ports.append(client_port)


def _bound_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


# -- uvicorn + Starlette ------------------------------------------------------------------------
def _starlette(seen: RealReceiver) -> Starlette:
    async def answer(request: Request) -> Response:
        await request.body()
        seen.record(request.url.path, request.client.port if request.client else 0)
        kind = request.path_params["kind"]
        if kind == "chunked":  # no length: uvicorn sends it chunked

            async def chunks() -> AsyncIterator[bytes]:
                for chunk in CHUNKS:
                    yield chunk

            return StreamingResponse(chunks())
        if kind == "close":
            return Response(b"bye", headers={"connection": "close"})
        status, headers, body = ANSWERS[kind]
        return Response(body, status_code=status, headers=headers)

    return Starlette(routes=[Route("/{kind}", answer, methods=["POST"])])


@asynccontextmanager
async def uvicorn_receiver(http: str) -> AsyncIterator[RealReceiver]:
    """uvicorn on this event loop, with its ``http`` implementation ("httptools" or "h11")."""
    seen = RealReceiver()
    sock = _bound_socket()
    seen.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    config = uvicorn.Config(
        _starlette(seen),
        http=http,
        ws="none",
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        await _until(lambda: server.started or serving.done(), "uvicorn to start")
        if serving.done():
            serving.result()  # it failed: say why
        yield seen
    finally:
        server.should_exit = True
        await serving
        sock.close()


# -- aiohttp ------------------------------------------------------------------------------------
SEEN = web.AppKey("seen", RealReceiver)


async def _aiohttp_answer(request: web.Request) -> web.StreamResponse:
    await request.read()
    peer = request.transport.get_extra_info("peername") if request.transport else None
    request.app[SEEN].record(request.path, peer[1] if peer else 0)
    kind = request.match_info["kind"]
    if kind == "chunked":
        streamed = web.StreamResponse()
        streamed.enable_chunked_encoding()
        await streamed.prepare(request)
        for chunk in CHUNKS:
            await streamed.write(chunk)
        await streamed.write_eof()
        return streamed
    if kind == "close":
        closing = web.Response(body=b"bye")
        closing.force_close()
        return closing
    status, headers, body = ANSWERS[kind]
    return web.Response(status=status, headers=headers, body=body)


@asynccontextmanager
async def aiohttp_receiver() -> AsyncIterator[RealReceiver]:
    seen = RealReceiver()
    app = web.Application()
    app[SEEN] = seen
    app.router.add_post("/{kind}", _aiohttp_answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    sock = _bound_socket()
    seen.base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    try:
        await web.SockSite(runner, sock).start()
        yield seen
    finally:
        await runner.cleanup()
        sock.close()


# -- http.server --------------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as long as each answer says its length
    seen: RealReceiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", "0")))
        self.seen.record(self.path, self.client_address[1])
        kind = self.path.lstrip("/")
        if kind == "chunked":
            self._head(200, {"transfer-encoding": "chunked"})
            for chunk in CHUNKS:
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.write(b"0\r\n\r\n")
        elif kind == "close":
            self._head(200, {"connection": "close", "content-length": "3"})
            self.wfile.write(b"bye")
            self.close_connection = True
        elif kind in ("to-the-end", "no-length-close"):
            if kind == "to-the-end":
                self.protocol_version = "HTTP/1.0"
                self._head(200, {})
            else:
                self._head(200, {"connection": "close"})
            self.wfile.write(b"all of it")
            self.close_connection = True
        else:
            status, headers, body = ANSWERS[kind]
            length = {} if status == 204 else {"content-length": str(len(body))}
            self._head(status, {**headers, **length})
            self.wfile.write(body)

    def _head(self, status: int, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@asynccontextmanager
async def http_server_receiver() -> AsyncIterator[RealReceiver]:
    """http.server's ThreadingHTTPServer, serving in a thread of its own."""
    seen = RealReceiver()
    handler = type("Handler", (_Handler,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    seen.base_url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield seen
    finally:
        await asyncio.to_thread(server.shutdown)
        server.server_close()
        thread.join(5)


RECEIVERS: dict[str, Callable[[], AbstractAsyncContextManager[RealReceiver]]] = {
    "uvicorn-httptools": lambda: uvicorn_receiver("httptools"),
    "uvicorn-h11": lambda: uvicorn_receiver("h11"),
    "aiohttp": aiohttp_receiver,
    "http.server": http_server_receiver,
}


async def _until(condition: Callable[[], bool], what: str, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what}")
        await asyncio.sleep(0.01)
