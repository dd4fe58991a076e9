"""The ward's ``alerts`` stream, as the outreach team reads it.

These are outreach's **own copies** of the ward's public models, matched by type name and
schema version: they hold only the fields outreach uses (the ward's ``reasons`` are passed
over), and nothing here imports the ward's code. When the ward publishes a v2 of a type,
outreach adds an upcaster (``ward_alerts.upcaster(...)``) or moves its copy forward.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, Integer, Text
from sqlmodel import Field, SQLModel

from app.sdk import Action, EventMeta, PublicEvent, Send, Subscription, View
from app.services.outreach.callout import RequestCallout, StandDown


class WardAlertRaised(PublicEvent, type_name="ward.AlertRaised", schema_version=1):
    ward: str
    risk: str
    score: int
    episode: int


class WardAlertEscalated(PublicEvent, type_name="ward.AlertEscalated", schema_version=1):
    risk: str
    previous_risk: str
    score: int
    reason: str


class WardAlertResolved(PublicEvent, type_name="ward.AlertResolved", schema_version=1):
    note: str = ""


ward_alerts = Subscription("ward-alerts", service="ward", stream="alerts")

# -- the action: a high-risk alert, or any escalation, calls the team; a resolved one stands
# it down. Each command carries the idempotency key alert-callouts:ward:<event id>.
alert_callouts = Action(
    "alert-callouts",
    source=ward_alerts,
    start_from="beginning",
    description="Calls the outreach team to high-risk and escalated ward alerts.",
)


@alert_callouts.handles
def on_raised(event: WardAlertRaised, meta: EventMeta) -> Send | None:
    if event.risk != "high":
        return None  # the ward's own team handles lower risks
    command = RequestCallout(
        ward=event.ward, risk=event.risk, score=event.score, reason="high-risk alert raised"
    )
    return Send("callout", meta.entity_id, "request", command)


@alert_callouts.handles
def on_escalated(event: WardAlertEscalated, meta: EventMeta) -> Send:
    # An escalation does not repeat the ward: the callout learns it from the raise, if any.
    reason = f"alert escalated ({event.reason})"
    command = RequestCallout(risk=event.risk, score=event.score, reason=reason)
    return Send("callout", meta.entity_id, "request", command)


@alert_callouts.handles
def on_resolved(event: WardAlertResolved, meta: EventMeta) -> Send:
    command = StandDown(reason="the ward resolved the alert", if_active=True)
    return Send("callout", meta.entity_id, "stand-down", command)


# -- the view: the ward's alerts as outreach sees them, one row per patient ---------------------
class WardAlert(SQLModel):
    patient_id: str = Field(sa_column=Column(Text, primary_key=True))
    ward: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(Text, nullable=False), description="open or resolved")
    risk: str = Field(sa_column=Column(Text, nullable=False))
    score: int = Field(sa_column=Column(Integer, nullable=False))
    episode: int = Field(sa_column=Column(Integer, nullable=False))
    escalations: int = Field(sa_column=Column(Integer, nullable=False))
    raised_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WardAlertRow(WardAlert, table=True):
    __tablename__ = "view_ward_alerts"


ward_alerts_view = View(
    "ward-alerts",
    table=WardAlertRow,
    row=WardAlert,
    source=ward_alerts,
    filters=["ward", "status", "risk"],
    sort=["raised_at", "score"],
    description="The ward's alerts, from its public stream: one row per patient.",
)


@ward_alerts_view.handles
def alert_raised(row: WardAlert | None, event: WardAlertRaised, meta: EventMeta) -> WardAlert:
    return WardAlert(
        patient_id=meta.entity_id,
        ward=event.ward,
        status="open",
        risk=event.risk,
        score=event.score,
        episode=event.episode,
        escalations=0,
        raised_at=meta.recorded_at,
        updated_at=meta.recorded_at,
    )


@ward_alerts_view.handles
def alert_escalated(
    row: WardAlert | None, event: WardAlertEscalated, meta: EventMeta
) -> WardAlert | None:
    if row is None:
        return None
    row.risk, row.score, row.escalations = event.risk, event.score, row.escalations + 1
    row.updated_at = meta.recorded_at
    return row


@ward_alerts_view.handles
def alert_resolved(
    row: WardAlert | None, event: WardAlertResolved, meta: EventMeta
) -> WardAlert | None:
    if row is None:
        return None
    row.status, row.updated_at = "resolved", meta.recorded_at
    return row
