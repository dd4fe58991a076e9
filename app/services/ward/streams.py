"""What the ward tells other services: its ``alerts`` stream.

Its public events are a contract with every reader (the outreach team first): their type
names say whose they are (``ward.…``), and they carry what a reader outside the ward needs to
act, nothing more. Acknowledgements stay private: who on the ward saw an alert is the ward's
business, and the ward may change how it records that without telling anyone. The subject of
every event is the patient's id.
"""

from __future__ import annotations

from pydantic import Field

from app.sdk import EventMeta, PublicEvent, Stream
from app.services.ward.alert import AlertEscalated, AlertRaised, AlertResolved, Risk


class PublicAlertRaised(PublicEvent, type_name="ward.AlertRaised", schema_version=1):
    ward: str
    risk: Risk = Field(description="NEWS2 clinical risk: low-medium, medium or high.")
    score: int = Field(description="The NEWS2 aggregate score that raised it.")
    episode: int = Field(description="The patient's alert episode (1, 2, … over a stay).")
    reasons: list[str] = Field(default_factory=list, description="The parameters that scored.")


class PublicAlertEscalated(PublicEvent, type_name="ward.AlertEscalated", schema_version=1):
    risk: Risk
    previous_risk: Risk
    score: int
    reason: str = Field(description="'risk-increased', or 'unacknowledged' in time.")


class PublicAlertResolved(PublicEvent, type_name="ward.AlertResolved", schema_version=1):
    note: str = ""


alerts = Stream(
    "alerts",
    description="The ward's early-warning alerts: raised, escalated, resolved (subject: patient).",
)


@alerts.publishes
def raised(event: AlertRaised, meta: EventMeta) -> PublicAlertRaised:
    return PublicAlertRaised(
        ward=event.ward,
        risk=event.risk,
        score=event.score,
        episode=event.episode,
        reasons=list(event.reasons),
    )


@alerts.publishes
def escalated(event: AlertEscalated, meta: EventMeta) -> PublicAlertEscalated:
    return PublicAlertEscalated(
        risk=event.risk, previous_risk=event.previous_risk, score=event.score, reason=event.reason
    )


@alerts.publishes
def resolved(event: AlertResolved, meta: EventMeta) -> PublicAlertResolved:
    return PublicAlertResolved(note=event.note)
