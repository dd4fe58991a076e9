"""One webhook attempt over HTTP: sign, POST to the checked address, read what came back.

No redirect is followed (a 3xx is a failure: the receiver must give its real URL), the whole
attempt is bounded by one timeout, and only the first KiB of the answer is kept.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from app.webhooks.signing import signature_header
from app.webhooks.urlguard import ForbiddenURL, resolve

KEEP_BODY_BYTES = 1024
USER_AGENT = "Sluice-Webhooks/1.0"


@dataclass(frozen=True)
class Answer:
    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after: str | None = None
    failure: str | None = None  # why there is no status: "timeout", "refused", "connection_error"

    def outcome(self) -> str:
        """How the attempt went, as a metric label: one of a handful of fixed words."""
        code = self.status_code
        if code is None:
            return self.failure or "connection_error"
        if 200 <= code < 300:
            return "success"
        return "gone" if code == 410 else f"http_{code // 100}xx"


def new_client(max_connections: int) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        follow_redirects=False,
        timeout=None,  # one overall bound per attempt instead: see send()
        limits=httpx.Limits(
            max_connections=max_connections, max_keepalive_connections=max_connections
        ),
        headers={"user-agent": USER_AGENT},
        trust_env=False,  # no proxy from the environment: the URL guard checks the real peer
    )


async def send(
    client: httpx.AsyncClient,
    *,
    url: str,
    message_id: str,
    body: bytes,
    secrets: list[str],
    within: float,
    allow_private: bool,
    trace: dict[str, str] | None = None,
) -> Answer:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(within):
            target = await resolve(url, allow_private=allow_private)
            timestamp = int(time.time())
            headers = {
                "content-type": "application/json",
                "host": urlsplit(url).netloc.rpartition("@")[2],
                "webhook-id": message_id,
                "webhook-timestamp": str(timestamp),
                "webhook-signature": signature_header(secrets, message_id, timestamp, body),
                **(trace or {}),
            }
            extensions = {"sni_hostname": target.host} if url.startswith("https:") else {}
            request = client.build_request(
                "POST", target.connect_url, content=body, headers=headers, extensions=extensions
            )
            response = await client.send(request, stream=True)
            try:
                kept = await _first_bytes(response)
            finally:
                await response.aclose()
    except TimeoutError:
        return Answer(None, _ms(started), None, f"timed out after {within:g}s", failure="timeout")
    except ForbiddenURL as refused:
        return Answer(None, _ms(started), None, f"refused: {refused}", failure="refused")
    except httpx.HTTPError as error:
        reason = str(error) or "the connection was closed or reset"
        error_text = f"{type(error).__name__}: {reason}"[:1000]
        return Answer(None, _ms(started), None, error_text, failure="connection_error")
    return Answer(
        response.status_code,
        _ms(started),
        kept.decode("utf-8", errors="replace"),
        None,
        response.headers.get("retry-after"),
    )


async def _first_bytes(response: httpx.Response) -> bytes:
    kept = b""
    async for chunk in response.aiter_bytes():
        kept += chunk
        if len(kept) >= KEEP_BODY_BYTES:
            break
    return kept[:KEEP_BODY_BYTES]


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
