"""One webhook attempt over HTTP: sign, POST to the checked address, read what came back.

No redirect is followed (a 3xx is a failure: the receiver must give its real URL), the whole
attempt is bounded by one timeout, and only the first KiB of the answer is kept.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from app.webhooks.http1 import Endpoint, Http1Pool, ProtocolError, RequestError
from app.webhooks.signing import signature_header
from app.webhooks.urlguard import CheckedURL, ForbiddenURL, resolve

KEEP_BODY_BYTES = 1024
USER_AGENT = "Sluice-Webhooks/1.0"


# Why an attempt has no status. A metric label each: a fixed set, whatever a receiver does.
FAILURES = frozenset({"timeout", "refused", "connection_error", "protocol_error", "error"})


@dataclass(frozen=True)
class Attempt:
    status_code: int | None
    latency_ms: int
    body: str | None
    error: str | None
    retry_after: str | None = None
    failure: str | None = None  # why there is no status: one of FAILURES

    def outcome(self) -> str:
        """How the attempt went, as a metric label: one of a handful of fixed words (never a
        receiver's own number: h11 allows any three digits)."""
        code = self.status_code
        if code is None:
            return self.failure if self.failure in FAILURES else "error"
        if 200 <= code < 300:
            return "success"
        if code == 410:
            return "gone"
        return f"http_{code // 100}xx" if 300 <= code < 600 else "other"


def new_client(max_connections: int) -> Http1Pool:
    return Http1Pool(max_idle=max_connections)


async def send(
    client: Http1Pool,
    *,
    url: str,
    message_id: str,
    body: bytes,
    secrets: list[str],
    within: float,
    allow_private: bool,
    trace: dict[str, str] | None = None,
) -> Attempt:
    """One attempt, whatever happens to it: an answer, or a failure named in ``FAILURES``."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(within):
            checked = await resolve(url, allow_private=allow_private)
            parts = urlsplit(url)
            headers = _headers(parts, message_id, body, secrets, trace)
            path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            answer = await client.post(
                _endpoint(checked, parts), path, headers, body, KEEP_BODY_BYTES
            )
    except TimeoutError:
        return _failed(started, f"timed out after {within:g}s", "timeout")
    except ForbiddenURL as refused:
        return _failed(started, f"refused: {refused}", "refused")
    except (RequestError, UnicodeError) as error:  # a URL or header HTTP/1.1 cannot carry
        return _failed(started, f"refused: the request cannot be sent: {error}", "refused")
    except ProtocolError as error:
        return _failed(started, f"the answer is not HTTP/1.1: {error}", "protocol_error")
    except (OSError, EOFError) as error:  # refused, reset, closed mid-answer, TLS
        reason = str(error) or "the connection was closed or reset"
        return _failed(started, f"{type(error).__name__}: {reason}", "connection_error")
    return Attempt(
        answer.status,
        _ms(started),
        answer.first_bytes.decode("utf-8", errors="replace"),
        None,
        answer.header(b"retry-after") if answer.status >= 300 else None,
    )


def _headers(
    parts: SplitResult,
    message_id: str,
    body: bytes,
    secrets: list[str],
    trace: dict[str, str] | None,
) -> dict[str, str]:
    """The request's headers, signed (Standard Webhooks) at the moment of sending."""
    timestamp = int(time.time())
    return {
        "host": _host_header(parts),
        "user-agent": USER_AGENT,
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(secrets, message_id, timestamp, body),
        **(trace or {}),
    }


def _endpoint(checked: CheckedURL, parts: SplitResult) -> Endpoint:
    """Where to connect: the address the URL guard checked; TLS verified against the host."""
    https = parts.scheme == "https"
    return Endpoint(
        checked.address, parts.port or (443 if https else 80), checked.host if https else None
    )


def _failed(started: float, error: str, failure: str) -> Attempt:
    return Attempt(None, _ms(started), None, error[:1000], failure=failure)


def _host_header(parts: SplitResult) -> str:
    """The URL's host as the Host header carries it: ASCII, an IDN in its xn-- form."""
    host = parts.netloc.rpartition("@")[2]
    if host.isascii():
        return host
    ascii_host = (parts.hostname or "").encode("idna").decode("ascii")  # UnicodeError: refused
    return f"{ascii_host}:{parts.port}" if parts.port else ascii_host


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
