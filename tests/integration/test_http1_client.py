"""The webhook HTTP/1.1 client against raw servers on 127.0.0.1: the answer shapes real
receivers send, keep-alive reuse, and connections it must not reuse."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trustme

from app.webhooks.http1 import Endpoint, Http1Pool, ProtocolError, RequestError

Reply = Callable[[bytes], bytes | None]  # request bytes -> raw answer (None: close)


@asynccontextmanager
async def raw_server(
    reply: Reply, *, close_after_each: bool = False
) -> AsyncIterator[tuple[Endpoint, list[int]]]:
    """Answers each request with ``reply(request)``; yields the target and, per connection,
    how many requests it carried."""
    per_connection: list[int] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        index = len(per_connection)
        per_connection.append(0)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                per_connection[index] += 1
                answer = reply(head + body)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if close_after_each:  # as a server does when a kept connection times out
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield Endpoint("127.0.0.1", port, None), per_connection
    finally:
        server.close()


async def post(pool: Http1Pool, target: Endpoint, body: bytes = b'{"a":1}') -> tuple[int, bytes]:
    answer = await asyncio.wait_for(
        pool.post(target, "/hook?s=1", {"host": "receiver.test"}, body, keep_bytes=1024), 5
    )
    return answer.status, answer.first_bytes


async def test_keep_alive_connections_are_reused_for_sequential_posts() -> None:
    ok = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"
    async with raw_server(lambda _: ok) as (target, per_connection):
        pool = Http1Pool(max_idle=4)
        for _ in range(5):
            assert await post(pool, target) == (200, b"ok")
        await pool.close()
    assert per_connection == [5]


async def test_the_request_carries_path_host_and_exact_body() -> None:
    seen: list[bytes] = []

    def record(request: bytes) -> bytes:
        seen.append(request)
        return b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"

    async with raw_server(record) as (target, _):
        pool = Http1Pool(max_idle=1)
        assert await post(pool, target, b'{"x":"\xc3\xa9"}') == (204, b"")
        await pool.close()
    head, _, body = seen[0].partition(b"\r\n\r\n")
    assert head.startswith(b"POST /hook?s=1 HTTP/1.1\r\n")
    assert b"host: receiver.test" in head and body == b'{"x":"\xc3\xa9"}'


async def test_chunked_answers_are_read_through_and_kept_to_the_first_bytes() -> None:
    chunked = (
        b"HTTP/1.1 500 Internal Server Error\r\ntransfer-encoding: chunked\r\n\r\n"
        b"5\r\nhello\r\n800\r\n" + b"x" * 0x800 + b"\r\n0\r\n\r\n"
    )
    async with raw_server(lambda _: chunked) as (target, per_connection):
        pool = Http1Pool(max_idle=1)
        status, first = await post(pool, target)
        assert status == 500 and first == b"hello" + b"x" * 1019
        assert (await post(pool, target))[0] == 500  # read to its end: the connection serves on
        await pool.close()
    assert per_connection == [2]


async def test_a_204_without_a_length_ends_at_its_head_and_the_connection_serves_on() -> None:
    """RFC 9112 §6.3: no body after a 204 (nor a 304 or a 1xx), whatever the headers say;
    uvicorn, aiohttp and http.server all send one without Content-Length."""
    no_content = b"HTTP/1.1 204 No Content\r\nserver: uvicorn\r\n\r\n"
    async with raw_server(lambda _: no_content) as (target, per_connection):
        pool = Http1Pool(max_idle=1)
        for _ in range(3):
            assert await post(pool, target) == (204, b"")
        await pool.close()
    assert per_connection == [3]


async def test_an_answer_the_request_did_not_ask_for_is_never_taken_for_the_next() -> None:
    """Two answers to one request: the connection is dropped, so the second answer is not
    read as the reply to the next POST."""
    twice = (
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokHTTP/1.1 500 X\r\ncontent-length: 0\r\n\r\n"
    )
    async with raw_server(lambda _: twice) as (target, per_connection):
        pool = Http1Pool(max_idle=4)
        assert await post(pool, target) == (200, b"ok")
        assert await post(pool, target) == (200, b"ok")
        await pool.close()
    assert per_connection == [1, 1]


async def test_a_target_outside_ascii_is_percent_encoded() -> None:
    seen: list[bytes] = []

    def record(request: bytes) -> bytes:
        seen.append(request)
        return b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"

    async with raw_server(record) as (target, _):
        pool = Http1Pool(max_idle=1)
        answer = await pool.post(target, "/h\u00e9/\u2603?q=%20", {"host": "r.test"}, b"", 10)
        assert answer.status == 200
        await pool.close()
    assert seen[0].startswith(b"POST /h%C3%A9/%E2%98%83?q=%20 HTTP/1.1\r\n")


@pytest.mark.parametrize(
    "headers",
    [{"x-correlation-id": "a\r\nx-injected: 1"}, {"x-correlation-id": "\u2603"}, {"bad name": "1"}],
    ids=["line-break", "not-latin-1", "bad-name"],
)
async def test_a_request_http_cannot_carry_is_refused_before_connecting(
    headers: dict[str, str],
) -> None:
    async with raw_server(lambda _: b"") as (target, per_connection):
        pool = Http1Pool(max_idle=1)
        with pytest.raises(RequestError):
            await pool.post(target, "/hook", {"host": "r.test", **headers}, b"{}", 10)
        await pool.close()
    assert per_connection == []


async def test_interim_answers_are_skipped() -> None:
    answer = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n"
    async with raw_server(lambda _: answer) as (target, _):
        pool = Http1Pool(max_idle=1)
        assert (await post(pool, target))[0] == 202
        await pool.close()


async def test_connection_close_and_http_1_0_are_not_reused() -> None:
    answers = iter(
        [
            b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n",
        ]
    )
    async with raw_server(lambda _: next(answers)) as (target, per_connection):
        pool = Http1Pool(max_idle=4)
        for _ in range(3):
            assert (await post(pool, target))[0] == 200
        await pool.close()
    assert per_connection == [1, 1, 1]


async def test_a_body_to_the_end_of_the_connection_is_kept_and_the_connection_dropped() -> None:
    def until_close(_: bytes) -> bytes:
        return b"HTTP/1.1 200 OK\r\n\r\nall of it"

    async with raw_server(until_close, close_after_each=True) as (target, _):
        pool = Http1Pool(max_idle=4)
        assert await post(pool, target) == (200, b"all of it")
        assert not any(pool._idle.values())
        await pool.close()


async def test_an_idle_connection_the_server_closed_is_not_used_and_nothing_is_sent_twice() -> None:
    served = 0

    def once_then_close(_: bytes) -> bytes:
        nonlocal served
        served += 1
        return b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n"

    async with raw_server(once_then_close, close_after_each=True) as (target, per_connection):
        pool = Http1Pool(max_idle=4)
        assert (await post(pool, target))[0] == 200
        await asyncio.sleep(0.05)  # the server's FIN arrives at the idle connection
        assert (await post(pool, target))[0] == 200
        await pool.close()
    assert served == 2 and per_connection == [1, 1]


@pytest.mark.parametrize(
    "garbage",
    [
        b"SSH-2.0-OpenSSH\r\n\r\n",
        b"HTTP/1.1 abc OK\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n-5\r\nhello\r\n0\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n" + b"1" * 70_000 + b"\r\n",
        b"HTTP/1.1 200000000000 OK\r\n\r\n",
    ],
    ids=[
        "not-http",
        "status-not-digits",
        "bad-length",
        "negative-chunk",
        "70-KB-chunk-line",
        "long-status",
    ],
)
async def test_a_garbled_answer_is_a_protocol_error(garbage: bytes) -> None:
    async with raw_server(lambda _: garbage) as (target, _):
        pool = Http1Pool(max_idle=1)
        with pytest.raises(ProtocolError):
            await post(pool, target)
        assert not any(pool._idle.values()), "a connection in doubt is never kept"
        await pool.close()


async def test_a_reset_or_closed_connection_is_an_error_not_an_answer() -> None:
    async with raw_server(lambda _: None) as (target, _):
        pool = Http1Pool(max_idle=1)
        with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
            await post(pool, target)
        await pool.close()


@asynccontextmanager
async def tls_server(hostname: str) -> AsyncIterator[tuple[int, trustme.CA]]:
    """An HTTPS receiver with a certificate for ``hostname`` from a CA of the test's own."""
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(hostname).configure_cert(context)

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            await reader.readuntil(b"\r\n\r\n")
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 3\r\n\r\ntls")
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    try:
        yield server.sockets[0].getsockname()[1], ca
    finally:
        server.close()


async def test_tls_is_verified_against_the_urls_host_not_the_address() -> None:
    async with tls_server("receiver.test") as (port, ca):
        trusting = ssl.create_default_context()
        ca.configure_trust(trusting)
        pool = Http1Pool(max_idle=1, tls=trusting)
        right = Endpoint("127.0.0.1", port, tls_hostname="receiver.test")
        assert await post(pool, right) == (200, b"tls")
        wrong = Endpoint("127.0.0.1", port, tls_hostname="elsewhere.test")
        with pytest.raises(ssl.SSLCertVerificationError):
            await post(pool, wrong)
        await pool.close()
        default = Http1Pool(max_idle=1)  # the system's CAs: a private CA is not trusted
        with pytest.raises(ssl.SSLCertVerificationError):
            await post(default, right)
        await default.close()
