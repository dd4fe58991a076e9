"""The alert: one per patient (its id is the patient's id), raised by the vitals monitor.

An episode runs from AlertRaised to AlertResolved; while open it can only go up in risk
(AlertEscalated), be acknowledged by a clinician, and be resolved.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.sdk import Command, Event, EventSourcedEntity, Rejection, Reply

Risk = Literal["low-medium", "medium", "high"]
RISK_ORDER: dict[str, int] = {"low-medium": 1, "medium": 2, "high": 3}
Text = Annotated[str, Field(min_length=1, max_length=200)]
Reason = Annotated[str, Field(min_length=1, max_length=100)]


# -- commands ---------------------------------------------------------------------------------
class RaiseAlert(Command):
    ward: Text
    score: int = Field(ge=0, le=20, description="NEWS2 aggregate score.")
    risk: Risk
    reasons: list[Reason] = Field(
        default_factory=list, max_length=20, description="The parameters that scored."
    )


class Acknowledge(Command):
    clinician: Text


class Resolve(Command):
    note: str = Field(default="", max_length=2000)


# -- events -----------------------------------------------------------------------------------
class AlertRaised(Event):
    ward: str
    score: int
    risk: Risk
    reasons: list[str]
    episode: int


class AlertEscalated(Event):
    score: int
    risk: Risk
    reasons: list[str]
    previous_risk: Risk
    reason: str = Field(description="'risk-increased', or 'unacknowledged' (timer).")


class AlertAcknowledged(Event):
    clinician: str


class AlertResolved(Event):
    note: str


# -- state ------------------------------------------------------------------------------------
class AlertState(BaseModel):
    open: bool = False
    episode: int = 0
    ward: str | None = None
    score: int | None = None
    risk: Risk | None = None
    reasons: list[str] = Field(default_factory=list)
    acknowledged_by: str | None = None


alert = EventSourcedEntity(
    "alert", state=AlertState, description="A patient's early-warning alert."
)


@alert.command("raise")
def raise_alert(state: AlertState, command: RaiseAlert) -> Reply | AlertRaised | AlertEscalated:
    """Open an alert, or escalate the open one when the risk is higher; otherwise change nothing."""
    if not state.open:
        return AlertRaised(**command.model_dump(), episode=state.episode + 1)
    assert state.risk is not None
    if RISK_ORDER[command.risk] > RISK_ORDER[state.risk]:
        return AlertEscalated(
            score=command.score,
            risk=command.risk,
            reasons=command.reasons,
            previous_risk=state.risk,
            reason="risk-increased",
        )
    return Reply(
        reply={
            "outcome": "unchanged",
            "detail": f"an alert at risk {state.risk} is already open",
            "risk": state.risk,
        }
    )


@alert.command("acknowledge")
def acknowledge(state: AlertState, command: Acknowledge) -> AlertAcknowledged:
    """A clinician has seen the alert and is acting on it."""
    if not state.open:
        raise Rejection("no alert is open for this patient")
    if state.acknowledged_by is not None:
        raise Rejection(f"the alert is already acknowledged by {state.acknowledged_by}")
    return AlertAcknowledged(clinician=command.clinician)


@alert.command("resolve")
def resolve(state: AlertState, command: Resolve) -> AlertResolved:
    """Close the episode; a later raise opens a new one."""
    if not state.open:
        raise Rejection("no alert is open for this patient")
    return AlertResolved(note=command.note)


@alert.applies
def raised(state: AlertState, event: AlertRaised) -> AlertState:
    return AlertState(
        open=True,
        episode=event.episode,
        ward=event.ward,
        score=event.score,
        risk=event.risk,
        reasons=event.reasons,
    )


@alert.applies
def escalated(state: AlertState, event: AlertEscalated) -> AlertState:
    # A higher risk needs a fresh acknowledgement: the earlier one was for a lesser danger.
    return state.model_copy(
        update={
            "score": event.score,
            "risk": event.risk,
            "reasons": event.reasons,
            "acknowledged_by": None,
        }
    )


@alert.applies
def acknowledged(state: AlertState, event: AlertAcknowledged) -> AlertState:
    return state.model_copy(update={"acknowledged_by": event.clinician})


@alert.applies
def resolved(state: AlertState, event: AlertResolved) -> AlertState:
    return AlertState(episode=state.episode)
