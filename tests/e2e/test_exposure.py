"""What a `sluice serve` process lets out and lets in, read from its own log and sockets: no
API key in any log line, no error line anyone can trigger, one line per record whatever a
client sends, and connections that cannot hold the server by sending slowly."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.servers import SluiceProcess
from tests.support.sockets import ws_url
from tests.support.ward import ADMIT

pytestmark = pytest.mark.timeout(120)


async def test_no_api_key_reaches_the_log_and_refused_upgrades_are_not_errors(
    database_url: str, tmp_path: Path
) -> None:
    sluice = SluiceProcess({"DATABASE_URL": database_url, "SLUICE_LOG_FORMAT": "json"}, tmp_path)
    try:
        sluice.wait_ready()
        async with httpx.AsyncClient(base_url=sluice.url, headers=AUTH_HEADERS) as http:
            made = await http.post("/admin/keys", json={"name": "w", "scopes": ["events:read"]})
            reader = made.json()["key"]
            weak = await http.post("/admin/keys", json={"name": "v", "scopes": ["views:read"]})
            weak_key = weak.json()["key"]
        # the console's form: the key in the query string, accepted ...
        async with websockets.connect(ws_url(sluice.url, f"after=0&access_token={reader}")):
            pass
        # ... and refused: unknown (401), lacking the scope (403)
        for token in (f"sk_{'z' * 43}", weak_key):
            with pytest.raises(InvalidStatus):
                await websockets.connect(ws_url(sluice.url, f"access_token={token}"))
        sluice.terminate()
        sluice.process.wait(30)
        log = sluice.log_path.read_text()
    finally:
        sluice.close()
    for secret in (reader, weak_key, ADMIN_KEY, "z" * 43):
        assert secret not in log
    assert "access_token=[redacted]" in log  # uvicorn's handshake lines are there, redacted
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    errors = [line["message"] for line in lines if line["level"] in ("error", "critical")]
    assert errors == []
    statuses = {line.get("status") for line in lines if line.get("path") == "/ws/events"}
    assert {101, 401, 403} <= statuses  # each refusal is its request's own line


async def test_a_newline_in_an_entity_id_cannot_forge_a_text_log_line(
    database_url: str, tmp_path: Path
) -> None:
    sluice = SluiceProcess({"DATABASE_URL": database_url, "SLUICE_LOG_FORMAT": "text"}, tmp_path)
    try:
        sluice.wait_ready()
        forged = "x\n2026-01-01 00:00:00,000 ERROR sluice forged"
        async with httpx.AsyncClient(base_url=sluice.url, headers=AUTH_HEADERS) as http:
            answer = await http.post(
                f"/entities/patient/{forged.replace(chr(10), '%0A')}/admit", json=ADMIT
            )
            assert answer.status_code in (200, 404, 422)
        sluice.terminate()
        sluice.process.wait(30)
        log = sluice.log_path.read_text()
    finally:
        sluice.close()
    assert not any(line.startswith("2026-01-01 00:00:00,000 ERROR") for line in log.splitlines())
    assert "x\\n2026-01-01" in log  # written, escaped, on the request's own line


def test_half_sent_requests_are_closed_after_the_header_timeout(
    database_url: str, tmp_path: Path
) -> None:
    sluice = SluiceProcess(
        {"DATABASE_URL": database_url, "SLUICE_HTTP_HEADER_TIMEOUT_SECONDS": "1"}, tmp_path
    )
    try:
        sluice.wait_ready()
        silent = socket.create_connection(("127.0.0.1", sluice.port))
        slow = socket.create_connection(("127.0.0.1", sluice.port))
        slow.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        started = time.monotonic()
        for sock in (silent, slow):
            sock.settimeout(10)
            assert sock.recv(1024) == b"", "the server closed it"
            sock.close()
        assert time.monotonic() - started < 5
        # a kept-alive connection that starts its next request and stalls is closed too
        with socket.create_connection(("127.0.0.1", sluice.port)) as kept:
            kept.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            kept.settimeout(10)
            answer = b""
            while b'"ok"}' not in answer:
                answer += kept.recv(4096)
            assert b"200 OK" in answer
            kept.sendall(b"GET /healthz HTTP/1.1\r\n")
            assert kept.recv(1024) == b""
        # while whole requests are served as ever
        assert httpx.get(f"{sluice.url}/healthz").status_code == 200
    finally:
        sluice.close()


def test_connections_beyond_the_limit_get_503_not_a_hang(database_url: str, tmp_path: Path) -> None:
    sluice = SluiceProcess(
        {"DATABASE_URL": database_url, "SLUICE_HTTP_MAX_CONNECTIONS": "20"}, tmp_path
    )
    try:
        sluice.wait_ready()
        held = [socket.create_connection(("127.0.0.1", sluice.port)) for _ in range(20)]
        time.sleep(0.2)
        answer = httpx.get(f"{sluice.url}/healthz", timeout=5)
        assert answer.status_code == 503
        for sock in held:
            sock.close()
        deadline = time.monotonic() + 10
        while httpx.get(f"{sluice.url}/healthz", timeout=5).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        sluice.close()


async def test_many_connections_still_served(database_url: str, tmp_path: Path) -> None:
    """The default limit leaves room for ordinary concurrency."""
    sluice = SluiceProcess({"DATABASE_URL": database_url}, tmp_path)
    try:
        sluice.wait_ready()
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(base_url=sluice.url, limits=limits) as http:
            answers = await asyncio.gather(*(http.get("/healthz") for _ in range(200)))
        assert {a.status_code for a in answers} == {200}
    finally:
        sluice.close()
