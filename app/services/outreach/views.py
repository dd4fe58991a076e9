"""Outreach's own read model: every patient's callout, for the team's board."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Index, Integer, Text
from sqlmodel import Field, SQLModel

from app.sdk import EventMeta, View
from app.services.outreach.callout import (
    CalloutAccepted,
    CalloutCompleted,
    CalloutRequested,
    CalloutStoodDown,
    ResponderArrived,
)


class Callout(SQLModel):
    patient_id: str = Field(sa_column=Column(Text, primary_key=True))
    callout: int = Field(sa_column=Column(Integer, nullable=False))
    ward: str | None = Field(default=None, sa_column=Column(Text))
    status: str = Field(sa_column=Column(Text, nullable=False))
    risk: str = Field(sa_column=Column(Text, nullable=False))
    score: int = Field(sa_column=Column(Integer, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    responder: str | None = Field(default=None, sa_column=Column(Text))
    requested_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class CalloutRow(Callout, table=True):
    __tablename__ = "view_callouts"
    __table_args__ = (Index("view_callouts_status_idx", "status", "requested_at"),)


callouts = View(
    "callouts",
    table=CalloutRow,
    row=Callout,
    filters=["status", "ward", "responder"],
    sort=["requested_at", "score"],
    description="One row per patient: the latest callout, its status and responder.",
)


@callouts.handles
def requested(row: Callout | None, event: CalloutRequested, meta: EventMeta) -> Callout:
    return Callout(
        patient_id=meta.entity_id,
        callout=event.callout,
        ward=event.ward or (row.ward if row else None),
        status="requested",
        risk=event.risk,
        score=event.score,
        reason=event.reason,
        requested_at=meta.recorded_at,
        updated_at=meta.recorded_at,
    )


def _moved(row: Callout | None, status: str, meta: EventMeta) -> Callout | None:
    if row is None:
        return None
    row.status, row.updated_at = status, meta.recorded_at
    return row


@callouts.handles
def accepted(row: Callout | None, event: CalloutAccepted, meta: EventMeta) -> Callout | None:
    moved = _moved(row, "accepted", meta)
    if moved is not None:
        moved.responder = event.responder
    return moved


@callouts.handles
def arrived(row: Callout | None, event: ResponderArrived, meta: EventMeta) -> Callout | None:
    return _moved(row, "arrived", meta)


@callouts.handles
def completed(row: Callout | None, event: CalloutCompleted, meta: EventMeta) -> Callout | None:
    return _moved(row, "completed", meta)


@callouts.handles
def stood_down(row: Callout | None, event: CalloutStoodDown, meta: EventMeta) -> Callout | None:
    return _moved(row, "stood-down", meta)
