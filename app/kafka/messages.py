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
# The attributes Sluice reads (CloudEvents' own and Sluice's extensions) and their headers;
# ``datacontenttype`` travels as Kafka's content-type. Other extensions are passed over.
ATTRIBUTES = (
    "specversion",
    "id",
    "source",
    "type",
    "subject",
    "time",
    "dataschema",
    "seq",
    "entityversion",
    "schemaversion",
    "correlationid",
    "causationid",
    "traceparent",
)
HEADER_NAMES = {"datacontenttype": "content-type"} | {a: HEADER_PREFIX + a for a in ATTRIBUTES}
READ = tuple((attribute, HEADER_PREFIX + attribute) for attribute in ATTRIBUTES)
CONTENT_TYPE = "content-type"

Headers = list[tuple[str, bytes]]


class NotACloudEvent(ValueError):
    """A message no CloudEvents reading accepts: the reason names what is missing."""


def to_message(event: dict[str, Any]) -> tuple[bytes, bytes, Headers]:
    """(key, value, headers) of a public CloudEvent, binary content mode."""
    # One comprehension, text encoded in place: a publisher builds thousands per batch.
    headers: Headers = [
        (
            HEADER_NAMES.get(name) or HEADER_PREFIX + name,
            value.encode() if type(value) is str else _header_text(value),
        )
        for name, value in event.items()
        if value is not None and name != "data"
    ]
    return str(event["subject"]).encode(), to_json(event.get("data")), headers


def _header_text(value: Any) -> bytes:
    return (value.isoformat() if isinstance(value, datetime) else str(value)).encode()


def from_message(
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """The CloudEvent a message carries, in the shape a public stream's page serves."""
    # A lookup per attribute, not a pass with a call per header: a topic consumer reads
    # thousands of messages per batch.
    named = dict(headers) if headers else {}
    attributes: dict[str, Any] = {
        attribute: raw.decode("utf-8", "replace") if type(raw) is bytes else raw
        for attribute, header in READ
        if (raw := named.get(header)) is not None
    }
    content = named.get(CONTENT_TYPE)
    if content is None:  # another producer may spell it otherwise
        content = next((raw for name, raw in named.items() if name.lower() == CONTENT_TYPE), None)
    content_type = "" if content is None else _text(content).split(";")[0].strip().lower()
    for attribute in NUMBERS & attributes.keys():
        text = attributes[attribute]
        if text.isdigit():
            attributes[attribute] = int(text)
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
    return raw.decode("utf-8", "replace") if type(raw) is bytes else str(raw)
