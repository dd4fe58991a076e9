"""The alert: one per patient (its id is the patient's id), raised by the vitals monitor.

An episode runs from AlertRaised to AlertResolved; while open it can only go up in risk
(AlertEscalated), be acknowledged by a clinician, and be resolved. Raising (or a rise in
risk, which needs a fresh acknowledgement) sets a timer: unacknowledged after
SLUICE_WARD_ACK_MINUTES, the alert escalates; acknowledging or resolving cancels the timer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.sdk import CancelTimer, Command, Event, EventSourcedEntity, Rejection, Reply, Timer
from app.services.ward.settings import ack_delay

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
    if_open: bool = Field(
        default=False, description="Answer 'unchanged' instead of 409 when no alert is open."
    )


class Escalate(Command):
    """Sent by the alert's own acknowledgement timer."""

    episode: int = Field(ge=1)
    reason: Literal["unacknowledged"] = "unacknowledged"


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
    escalated_unacknowledged: bool = False


ACK_TIMER = "unacknowledged"


def ack_timer(episode: int) -> Timer:
    return Timer(ACK_TIMER, "escalate", Escalate(episode=episode), after=ack_delay())


def unchanged(detail: str, **extra: object) -> Reply:
    return Reply(reply={"outcome": "unchanged", "detail": detail, **extra})


alert = EventSourcedEntity(
    "alert", state=AlertState, description="A patient's early-warning alert."
)


@alert.command("raise")
def raise_alert(state: AlertState, command: RaiseAlert) -> Reply | AlertRaised | AlertEscalated:
    """Open an alert, or escalate the open one when the risk is higher; otherwise change nothing."""
    if not state.open:
        episode = state.episode + 1
        raised = AlertRaised(**command.model_dump(), episode=episode)
        return Reply([raised], timers=[ack_timer(episode)])
    assert state.risk is not None
    if RISK_ORDER[command.risk] > RISK_ORDER[state.risk]:
        escalated = AlertEscalated(
            score=command.score,
            risk=command.risk,
            reasons=command.reasons,
            previous_risk=state.risk,
            reason="risk-increased",
        )
        return Reply([escalated], timers=[ack_timer(state.episode)])
    return unchanged(f"an alert at risk {state.risk} is already open", risk=state.risk)


@alert.command("escalate")
def escalate(state: AlertState, command: Escalate) -> Reply | AlertEscalated:
    """Escalate an alert nobody acknowledged in time (sent by the alert's timer)."""
    if not state.open or state.episode != command.episode:
        return unchanged(f"episode {command.episode} is over")
    if state.acknowledged_by is not None:
        return unchanged(f"acknowledged by {state.acknowledged_by}")
    if state.escalated_unacknowledged:
        return unchanged("already escalated as unacknowledged")
    assert state.risk is not None and state.score is not None
    return AlertEscalated(
        score=state.score,
        risk=state.risk,
        reasons=state.reasons,
        previous_risk=state.risk,
        reason=command.reason,
    )


@alert.command("acknowledge")
def acknowledge(state: AlertState, command: Acknowledge) -> Reply:
    """A clinician has seen the alert and is acting on it."""
    if not state.open:
        raise Rejection("no alert is open for this patient")
    if state.acknowledged_by is not None:
        raise Rejection(f"the alert is already acknowledged by {state.acknowledged_by}")
    return Reply([AlertAcknowledged(clinician=command.clinician)], timers=[CancelTimer(ACK_TIMER)])


@alert.command("resolve")
def resolve(state: AlertState, command: Resolve) -> Reply:
    """Close the episode; a later raise opens a new one."""
    if not state.open:
        if command.if_open:
            return unchanged("no alert is open")
        raise Rejection("no alert is open for this patient")
    return Reply([AlertResolved(note=command.note)], timers=[CancelTimer(ACK_TIMER)])


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
    if event.reason == "unacknowledged":
        return state.model_copy(update={"escalated_unacknowledged": True})
    return state.model_copy(
        update={
            "score": event.score,
            "risk": event.risk,
            "reasons": event.reasons,
            "acknowledged_by": None,
            "escalated_unacknowledged": False,
        }
    )


@alert.applies
def acknowledged(state: AlertState, event: AlertAcknowledged) -> AlertState:
    return state.model_copy(update={"acknowledged_by": event.clinician})


@alert.applies
def resolved(state: AlertState, event: AlertResolved) -> AlertState:
    return AlertState(episode=state.episode)
