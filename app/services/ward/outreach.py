"""The outreach team's ``callouts`` stream, as the ward reads it: each patient's callout
status for the board.

The ward's own copies of outreach's public models (matched by type name and version); the
ward never reads outreach's tables nor calls its API. ``ignore_unknown``: a kind of callout
event the ward has not heard of yet is passed over, not a reason to stop the board.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, Text
from sqlmodel import Field, SQLModel

from app.sdk import EventMeta, PublicEvent, Subscription, View


class CalloutRequested(PublicEvent, type_name="outreach.CalloutRequested"):
    callout: int


class CalloutAccepted(PublicEvent, type_name="outreach.CalloutAccepted"):
    responder: str


class ResponderArrived(PublicEvent, type_name="outreach.ResponderArrived"):
    pass


class CalloutCompleted(PublicEvent, type_name="outreach.CalloutCompleted"):
    pass


class CalloutStoodDown(PublicEvent, type_name="outreach.CalloutStoodDown"):
    reason: str


outreach_callouts = Subscription(
    "outreach-callouts", service="outreach", stream="callouts", ignore_unknown=True
)


class CalloutStatus(SQLModel):
    patient_id: str = Field(sa_column=Column(Text, primary_key=True))
    callout: int = Field(sa_column=Column(Integer, nullable=False))
    status: str = Field(
        sa_column=Column(Text, nullable=False),
        description="requested, accepted, arrived, completed or stood-down",
    )
    responder: str | None = Field(default=None, sa_column=Column(Text))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class CalloutStatusRow(CalloutStatus, table=True):
    __tablename__ = "view_callout_status"


callout_status = View(
    "callout-status",
    table=CalloutStatusRow,
    row=CalloutStatus,
    source=outreach_callouts,
    filters=["status"],
    sort=["updated_at"],
    description="Each patient's outreach callout, from the outreach team's public stream.",
)


@callout_status.handles
def requested(row: CalloutStatus | None, event: CalloutRequested, meta: EventMeta) -> CalloutStatus:
    return CalloutStatus(
        patient_id=meta.entity_id,
        callout=event.callout,
        status="requested",
        updated_at=meta.recorded_at,
    )


def _moved(row: CalloutStatus | None, status: str, meta: EventMeta) -> CalloutStatus | None:
    if row is None:
        return None
    row.status, row.updated_at = status, meta.recorded_at
    return row


@callout_status.handles
def accepted(
    row: CalloutStatus | None, event: CalloutAccepted, meta: EventMeta
) -> CalloutStatus | None:
    moved = _moved(row, "accepted", meta)
    if moved is not None:
        moved.responder = event.responder
    return moved


@callout_status.handles
def arrived(
    row: CalloutStatus | None, event: ResponderArrived, meta: EventMeta
) -> CalloutStatus | None:
    return _moved(row, "arrived", meta)


@callout_status.handles
def completed(
    row: CalloutStatus | None, event: CalloutCompleted, meta: EventMeta
) -> CalloutStatus | None:
    return _moved(row, "completed", meta)


@callout_status.handles
def stood_down(
    row: CalloutStatus | None, event: CalloutStoodDown, meta: EventMeta
) -> CalloutStatus | None:
    return _moved(row, "stood-down", meta)
