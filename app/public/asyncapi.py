"""``GET /asyncapi.json``: the service's public streams as an AsyncAPI 3.0 document.

Made from the running service, so it cannot drift from what is served: one channel per
stream (its WebSocket address, the scope it needs), one message per public type, whose
payload is a CloudEvent with the type's own JSON Schema as ``data``. The protocol every
socket shares (catch-up then live, close codes, subscribe messages) is
``openapi/asyncapi.yaml``, written for ``/ws/events``.
"""

from __future__ import annotations

from typing import Any

from app.journal.cloudevents import CloudEvent
from app.keys.scopes import stream_scope
from app.sdk.streams import PublicEvent, Stream


def asyncapi_document(streams: list[Stream], service_name: str) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for stream in streams:
        channel = f"stream-{stream.id}"
        names = {public: _message_name(public) for public in stream.public_types.values()}
        for public, name in names.items():
            messages[name] = _message(stream, public)
        channels[channel] = {
            "address": f"/ws/streams/{stream.id}",
            "description": _describe(stream),
            "messages": {
                name: {"$ref": f"#/components/messages/{name}"} for name in names.values()
            },
        }
        operations[f"receive-{stream.id}"] = {
            "action": "receive",
            "channel": {"$ref": f"#/channels/{channel}"},
            "summary": f"The public events of {stream.id}, in the producer's seq order.",
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"{service_name}: public streams",
            "version": "1.0.0",
            "description": "What other services may read of this one. Pages of the same"
            " events: GET /streams/{id}?after=<seq> (OpenAPI).",
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def _describe(stream: Stream) -> str:
    return (
        f"{stream.description}\n\nNeeds a key with `{stream_scope(stream.id)}` (or"
        " `streams:read`). Query: `after` (resume after this seq), `types`, `entity_id`."
        " The connection rules of /ws/events apply."
    ).strip()


def _message_name(public: type[PublicEvent]) -> str:
    return f"{public.event_type}.v{public.schema_version}"


def _message(stream: Stream, public: type[PublicEvent]) -> dict[str, Any]:
    envelope = CloudEvent.model_json_schema()
    envelope["properties"]["type"] = {"const": public.event_type}
    envelope["properties"]["schemaversion"] = {"const": public.schema_version}
    envelope["properties"]["data"] = public.model_json_schema()
    return {
        "name": public.event_type,
        "title": f"{public.event_type} v{public.schema_version}",
        "contentType": "application/json",
        "payload": envelope,
    }
