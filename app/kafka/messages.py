"""Public events as Kafka messages, and back: CloudEvents' Kafka protocol binding.

Sluice sends the binary content mode: the event's data is the message value (JSON), its
attributes are ``ce_``-prefixed headers, ``content-type`` carries ``datacontenttype``, and the
message key is the subject (the entity id) so one entity's events stay in one partition, in
order. Sluice's extensions travel the same way: ``ce_seq`` (the producer's cursor),
``ce_entityversion``, ``ce_schemaversion``, ``ce_correlationid``, ``ce_causationid``,
``ce_traceparent``.

Reading accepts both modes, so any producer that speaks CloudEvents can feed a Sluice
consumer: binary (``ce_`` headers) or structured (``content-type:
application/cloudevents+json``, the whole event as the value). Anything else is not an
event this service can read, and says why.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic_core import from_json, to_json

STRUCTURED = "application/cloudevents+json"
REQUIRED = ("id", "source", "type")
# Attributes whose values are integers (headers carry text).
NUMBERS = frozenset({"seq", "entityversion", "schemaversion"})
HEADER_PREFIX = "ce_"

Headers = list[tuple[str, bytes]]


class NotACloudEvent(ValueError):
    """A message no CloudEvents reading accepts: the reason names what is missing."""


def to_message(event: dict[str, Any]) -> tuple[bytes, bytes, Headers]:
    """(key, value, headers) of a public CloudEvent, binary content mode."""
    headers: Headers = []
    for name, value in event.items():
        if value is None or name == "data":
            continue
        if name == "datacontenttype":
            headers.append(("content-type", str(value).encode()))
            continue
        text = value.isoformat() if isinstance(value, datetime) else str(value)
        headers.append((HEADER_PREFIX + name, text.encode()))
    return str(event["subject"]).encode(), to_json(event.get("data")), headers


def from_message(
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """The CloudEvent a message carries, in the shape a public stream's page serves."""
    attributes: dict[str, Any] = {}
    content_type = ""
    for name, raw in headers or ():  # one pass: a catch-up reads thousands per batch
        if raw is None:
            continue
        if name.startswith(HEADER_PREFIX):
            attribute, text = name[3:], _text(raw)
            attributes[attribute] = int(text) if attribute in NUMBERS and text.isdigit() else text
        elif name.lower() == "content-type":
            content_type = _text(raw).split(";")[0].strip().lower()
    if content_type == STRUCTURED:
        event = _structured(value)
    elif attributes:
        event = _binary(attributes, value, content_type)
    else:
        raise NotACloudEvent(
            "not a CloudEvent: no ce_ headers (binary mode) and no content-type"
            f" {STRUCTURED} (structured mode)"
        )
    missing = [name for name in REQUIRED if not event.get(name)]
    if missing:
        raise NotACloudEvent(f"a CloudEvent without {', '.join(missing)}")
    if not event.get("subject") and key:
        event["subject"] = _text(key)
    if not event.get("time") and timestamp_ms:
        event["time"] = datetime.fromtimestamp(timestamp_ms / 1000, UTC).isoformat()
    event.setdefault("schemaversion", 1)
    return event


def _structured(value: bytes | None) -> dict[str, Any]:
    try:
        event = from_json(value or b"")
    except ValueError as error:
        raise NotACloudEvent(f"structured CloudEvent that is not JSON: {error}") from None
    if not isinstance(event, dict):
        raise NotACloudEvent("structured CloudEvent that is not a JSON object")
    if "data_base64" in event and "data" not in event:
        raise NotACloudEvent("binary data (data_base64): public events carry JSON data")
    return event


def _binary(event: dict[str, Any], value: bytes | None, content_type: str) -> dict[str, Any]:
    if content_type and not content_type.endswith("json"):
        raise NotACloudEvent(f"data of content-type {content_type!r}: public events are JSON")
    try:
        event["data"] = from_json(value) if value else None
    except ValueError as error:
        raise NotACloudEvent(f"data that is not JSON: {error}") from None
    event["datacontenttype"] = content_type or "application/json"
    return event


def _text(raw: bytes | str) -> str:
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
