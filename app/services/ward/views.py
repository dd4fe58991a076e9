"""The ward's read models: a board of patients, and the open alerts.

Both are keyed by the patient's id, which is also the id of the patient's alert entity, so
patient and alert events land on the same row without a lookup.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, Index, Integer, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from app.sdk import EventMeta, View
from app.services.ward.alert import (
    RISK_ORDER,
    AlertAcknowledged,
    AlertEscalated,
    AlertRaised,
    AlertResolved,
)
from app.services.ward.monitor import scored
from app.services.ward.patient import (
    VITAL_SIGNS,
    PatientAdmitted,
    PatientDischarged,
    PatientTransferred,
    VitalsRecorded,
)

RECENT_SCORES = 20  # enough for a sparkline of the last few hours


def _text(nullable: bool = True, **kwargs: Any) -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=nullable), **kwargs)


class WardBoard(SQLModel):
    """One patient on the board: where, who, the latest vital signs, score and alert."""

    patient_id: str = Field(sa_column=Column(Text, primary_key=True))
    name: str | None = _text()
    ward: str | None = _text()
    bed: str | None = _text()
    status: str = Field(sa_column=Column(Text, nullable=False))
    latest_vitals: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
    news2_score: int | None = Field(default=None, sa_column=Column(Integer))
    risk: str | None = _text(description="NEWS2 clinical risk of the latest vital signs.")
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    recent_scores: list[int] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    last_vitals_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    alert_risk: str | None = _text(description="Risk of the open alert; null when none.")
    alert_acknowledged_by: str | None = _text()
    alert_escalated: bool | None = Field(default=None)
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class WardBoardRow(WardBoard, table=True):
    __tablename__ = "view_ward_board"
    __table_args__ = (Index("view_ward_board_ward_idx", "ward", "bed"),)


class OpenAlert(SQLModel):
    """An alert that is open: raised and not yet resolved."""

    patient_id: str = Field(sa_column=Column(Text, primary_key=True))
    ward: str = Field(sa_column=Column(Text, nullable=False))
    episode: int = Field(sa_column=Column(Integer, nullable=False))
    risk: str = Field(sa_column=Column(Text, nullable=False))
    risk_level: int = Field(
        sa_column=Column(Integer, nullable=False),
        description="1 low-medium, 2 medium, 3 high: sort by this for the most urgent first.",
    )
    score: int = Field(sa_column=Column(Integer, nullable=False))
    reasons: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    raised_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    escalated_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    escalation_reason: str | None = _text()
    acknowledged_by: str | None = _text()
    acknowledged_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True))
    )


class OpenAlertRow(OpenAlert, table=True):
    __tablename__ = "view_open_alerts"
    __table_args__ = (Index("view_open_alerts_ward_idx", "ward"),)


# Handlers work on the plain models (WardBoard, OpenAlert): faster than the table models,
# which track changes for an ORM session nobody uses here.
ward_board = View(
    "ward-board",
    table=WardBoardRow,
    row=WardBoard,
    filters=["ward", "status", "risk", "alert_risk"],
    sort=["ward", "bed", "name", "news2_score", "last_vitals_at"],
    description="One row per patient: bed, latest vital signs, NEWS2 score and open alert.",
)
open_alerts = View(
    "open-alerts",
    table=OpenAlertRow,
    row=OpenAlert,
    filters=["ward", "risk", "acknowledged_by"],
    sort=["ward", "risk_level", "score", "raised_at"],
    description="One row per open alert; a resolved alert's row disappears.",
)


# -- ward-board ---------------------------------------------------------------------------------
@ward_board.handles
def board_admitted(row: WardBoard | None, event: PatientAdmitted, meta: EventMeta) -> WardBoard:
    # A readmission starts a fresh card: the last stay's readings are not this stay's.
    return WardBoard(
        patient_id=meta.entity_id,
        name=event.name,
        ward=event.ward,
        bed=event.bed,
        status="admitted",
        reasons=[],  # given, not defaulted: pydantic inspects a default_factory per instance
        recent_scores=[],
        alert_risk=row.alert_risk if row else None,
        alert_acknowledged_by=row.alert_acknowledged_by if row else None,
        alert_escalated=row.alert_escalated if row else None,
        updated_at=meta.recorded_at,
    )


@ward_board.handles
def board_vitals(row: WardBoard | None, event: VitalsRecorded, meta: EventMeta) -> WardBoard | None:
    if row is None:
        return None
    result = scored(event)
    row.latest_vitals = {name: getattr(event, name) for name in VITAL_SIGNS}
    row.news2_score = result.total
    row.risk = result.risk
    row.reasons = result.reasons
    row.recent_scores = [*row.recent_scores, result.total][-RECENT_SCORES:]
    row.last_vitals_at = row.updated_at = meta.recorded_at
    return row


@ward_board.handles
def board_transferred(
    row: WardBoard | None, event: PatientTransferred, meta: EventMeta
) -> WardBoard | None:
    if row is None:
        return None
    row.ward, row.bed, row.updated_at = event.ward, event.bed, meta.recorded_at
    return row


@ward_board.handles
def board_discharged(
    row: WardBoard | None, event: PatientDischarged, meta: EventMeta
) -> WardBoard | None:
    if row is None:
        return None
    row.status, row.updated_at = "discharged", meta.recorded_at
    return row


@ward_board.handles
def board_alert_raised(
    row: WardBoard | None, event: AlertRaised, meta: EventMeta
) -> WardBoard | None:
    if row is None:
        return None
    row.alert_risk, row.alert_acknowledged_by, row.alert_escalated = event.risk, None, False
    row.updated_at = meta.recorded_at
    return row


@ward_board.handles
def board_alert_escalated(
    row: WardBoard | None, event: AlertEscalated, meta: EventMeta
) -> WardBoard | None:
    if row is None:
        return None
    row.alert_risk, row.alert_escalated = event.risk, True
    if event.reason == "risk-increased":
        row.alert_acknowledged_by = None
    row.updated_at = meta.recorded_at
    return row


@ward_board.handles
def board_alert_acknowledged(
    row: WardBoard | None, event: AlertAcknowledged, meta: EventMeta
) -> WardBoard | None:
    if row is None:
        return None
    row.alert_acknowledged_by, row.updated_at = event.clinician, meta.recorded_at
    return row


@ward_board.handles
def board_alert_resolved(
    row: WardBoard | None, event: AlertResolved, meta: EventMeta
) -> WardBoard | None:
    if row is None:
        return None
    row.alert_risk = row.alert_acknowledged_by = row.alert_escalated = None
    row.updated_at = meta.recorded_at
    return row


# -- open-alerts --------------------------------------------------------------------------------
@open_alerts.handles
def alert_raised(row: OpenAlert | None, event: AlertRaised, meta: EventMeta) -> OpenAlert:
    return OpenAlert(
        patient_id=meta.entity_id,
        ward=event.ward,
        episode=event.episode,
        risk=event.risk,
        risk_level=RISK_ORDER[event.risk],
        score=event.score,
        reasons=event.reasons,
        raised_at=meta.recorded_at,
    )


@open_alerts.handles
def alert_escalated(
    row: OpenAlert | None, event: AlertEscalated, meta: EventMeta
) -> OpenAlert | None:
    if row is None:
        return None
    row.risk, row.score, row.reasons = event.risk, event.score, event.reasons
    row.risk_level = RISK_ORDER[event.risk]
    row.escalated_at, row.escalation_reason = meta.recorded_at, event.reason
    if event.reason == "risk-increased":
        row.acknowledged_by = row.acknowledged_at = None
    return row


@open_alerts.handles
def alert_acknowledged(
    row: OpenAlert | None, event: AlertAcknowledged, meta: EventMeta
) -> OpenAlert | None:
    if row is None:
        return None
    row.acknowledged_by, row.acknowledged_at = event.clinician, meta.recorded_at
    return row


@open_alerts.handles
def alert_follows_its_patient(
    row: OpenAlert | None, event: PatientTransferred, meta: EventMeta
) -> OpenAlert | None:
    """The alert is the patient's (same id): the new ward's staff must see it."""
    if row is None:
        return None
    row.ward = event.ward
    return row


@open_alerts.handles
def alert_resolved(row: OpenAlert | None, event: AlertResolved, meta: EventMeta) -> None:
    return None
