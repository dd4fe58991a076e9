"""Following one request across asynchronous hops: the correlation id and W3C trace context.

A command may carry ``X-Correlation-ID`` (any opaque id up to 200 characters) or a W3C
``traceparent``, or both. The correlation id is the caller's own, else the trace id of the
traceparent, else a new one; it is stored in every event's metadata with the traceparent,
and everything those events cause (actions' commands, timers, webhook requests, WebSocket
messages) carries both on, so one id finds every hop in logs and traces.
"""

from __future__ import annotations

import re
from typing import Any

from app.journal.ids import random_uuid

# version 00; not all-zero ids (W3C Trace Context §3.2.2)
_TRACEPARENT = re.compile(r"^00-(?!0{32})([0-9a-f]{32})-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$")
MAX_CORRELATION_ID = 200


def trace_id_of(traceparent: str) -> str | None:
    found = _TRACEPARENT.match(traceparent.strip())
    return found.group(1) if found else None


def command_metadata(
    correlation_id: str | None, traceparent: str | None
) -> tuple[str, dict[str, Any]]:
    """The correlation id to answer with, and the metadata the command's events keep.

    A malformed traceparent is dropped rather than refused, as W3C asks of receivers."""
    trace = trace_id_of(traceparent) if traceparent else None
    correlation = correlation_id or trace or random_uuid().hex
    metadata: dict[str, Any] = {"correlation_id": correlation}
    if trace:
        metadata["traceparent"] = traceparent.strip()  # type: ignore[union-attr]
    return correlation, metadata


def carried(metadata: dict[str, Any]) -> dict[str, Any]:
    """What a caused command or timer inherits from the event that caused it."""
    inherited = {"correlation_id": metadata.get("correlation_id")}
    if metadata.get("traceparent"):
        inherited["traceparent"] = metadata["traceparent"]
    return inherited
