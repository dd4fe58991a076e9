"""One write per response (``app/api/connections.py``), on real uvicorn and real sockets,
with an app that answers at once: what holding a response for one turn of the event loop
must not change."""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

import pytest
from fastapi import FastAPI, WebSocket

from app.api.connections import with_header_timeout
from tests.support.servers import uvicorn_in_thread

pytestmark = pytest.mark.timeout(60)

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def instant_app() -> FastAPI:
    app = FastAPI()

    @app.get("/a")
    async def a() -> str:
        return "a"

    @app.websocket("/ws")
    async def ws(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text("hello")
        await websocket.close()

    return app


def connected(url: str) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", urlsplit(url).port or 80))
    sock.settimeout(10)
    return sock


def _segments_received(sock: socket.socket) -> int:
    """Linux's count of TCP segments this socket received (``tcpi_segs_in``)."""
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 256)
    return int.from_bytes(info[140:144], "little")


def test_a_response_leaves_as_one_segment() -> None:
    """uvicorn writes a response's head and body separately; here they leave together (on
    loopback each segment costs the sending process a syscall's share of both ends)."""
    requests = 50
    with (
        uvicorn_in_thread(instant_app(), http=with_header_timeout(5)) as url,
        connected(url) as kept,
    ):
        before = _segments_received(kept)
        for _ in range(requests):
            kept.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b'"a"'):
                answer += kept.recv(4096)
            assert answer.startswith(b"HTTP/1.1 200 OK")
        segments = _segments_received(kept) - before
    # two writes per response would be at least 100; a late ACK now and then is allowed
    assert segments <= requests * 1.3, segments


def test_a_client_that_half_closes_after_its_request_gets_the_answer() -> None:
    """``nc -N`` and some health checkers send a request, then shut their side: the answer,
    held for a turn, must go out before the connection closes."""
    with uvicorn_in_thread(instant_app(), http=with_header_timeout(5)) as url:
        for _ in range(10):
            with connected(url) as sock:
                sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
                sock.shutdown(socket.SHUT_WR)
                answer = b""
                while chunk := sock.recv(65536):
                    answer += chunk
                assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:40]


def test_a_response_owed_before_a_pipelined_upgrade_goes_out_before_the_handshake() -> None:
    """The earlier request's answer is held for a turn; the WebSocket protocol writes its
    101 straight to the socket. Unless the held answer is written through at the upgrade,
    the client reads the 101 first and then HTTP bytes inside its WebSocket stream."""
    with uvicorn_in_thread(instant_app(), http=with_header_timeout(5)) as url:
        for _ in range(10):
            with connected(url) as sock:
                sock.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\n" + UPGRADE)
                answer = b""
                while b"hello" not in answer:
                    answer += sock.recv(65536)
                assert answer.startswith(b"HTTP/1.1 200 OK"), answer[:40]
                assert answer.index(b'"a"') < answer.index(b"101 Switching Protocols")
