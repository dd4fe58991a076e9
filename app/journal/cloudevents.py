"""The public shape of an event: CloudEvents 1.0 (JSON format) with Sluice's extensions."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class CloudEvent(BaseModel):
    specversion: str = "1.0"
    id: uuid.UUID = Field(description="The event's id (event_id); the same wherever it goes.")
    source: str = Field(examples=["/sluice/ward/patient"])
    type: str = Field(examples=["patient.VitalsRecorded"])
    subject: str = Field(description="The entity's id.")
    time: datetime
    datacontenttype: str = "application/json"
    data: dict[str, Any]
    seq: int | None = Field(description="Position in the log; null until the relay sequenced it.")
    entityversion: int
    schemaversion: int
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = Field(
        default=None, description="W3C trace context (CloudEvents distributed tracing)."
    )


def source_of(service_name: str, entity_type: str) -> str:
    return f"/sluice/{service_name}/{entity_type}"


def cloud_event(
    *,
    service_name: str,
    entity_type: str,
    entity_id: str,
    event_id: uuid.UUID,
    type_name: str,
    version: int,
    schema_version: int,
    data: dict[str, Any],
    metadata: dict[str, Any],
    recorded_at: datetime,
    seq: int | None,
) -> CloudEvent:
    return CloudEvent(
        id=event_id,
        source=source_of(service_name, entity_type),
        type=f"{entity_type}.{type_name}",
        subject=entity_id,
        time=recorded_at,
        data=data,
        seq=seq,
        entityversion=version,
        schemaversion=schema_version,
        correlationid=metadata.get("correlation_id"),
        causationid=metadata.get("causation_id"),
        traceparent=metadata.get("traceparent"),
    )
