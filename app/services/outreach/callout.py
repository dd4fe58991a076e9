"""The callout: the outreach team called to one patient (its id is the patient's id).

requested → accepted (by a responder) → arrived → completed, or stood down at any point
before completion (the ward resolved the alert, or the team decided it was not needed). A
patient has one callout at a time; a request while one is active changes nothing, so the
alert action may ask on every raise and escalation.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.sdk import Command, Event, EventSourcedEntity, Rejection, Reply

Status = Literal["requested", "accepted", "arrived", "completed", "stood-down"]
ACTIVE: frozenset[str] = frozenset({"requested", "accepted", "arrived"})
Text = Annotated[str, Field(min_length=1, max_length=200)]


# -- commands ---------------------------------------------------------------------------------
class RequestCallout(Command):
    ward: Text | None = Field(default=None, description="Unknown when the ward did not say.")
    risk: Text = Field(description="The ward's NEWS2 risk when it asked.")
    score: int = Field(ge=0, le=20)
    reason: Text


class Accept(Command):
    responder: Text


class Arrive(Command):
    pass


class Complete(Command):
    outcome: str = Field(default="", max_length=2000)


class StandDown(Command):
    reason: Text
    if_active: bool = Field(
        default=False, description="Answer 'unchanged' instead of 409 when none is active."
    )


# -- events -----------------------------------------------------------------------------------
class CalloutRequested(Event):
    callout: int
    ward: str | None
    risk: str
    score: int
    reason: str


class CalloutAccepted(Event):
    responder: str
    callout: int | None = None  # which one (None in events logged before it was carried)


class ResponderArrived(Event):
    callout: int | None = None


class CalloutCompleted(Event):
    outcome: str


class CalloutStoodDown(Event):
    reason: str
    callout: int | None = None  # which one (None in events logged before it was carried)


# -- state ------------------------------------------------------------------------------------
class CalloutState(BaseModel):
    callout: int = 0  # how many this patient has had
    status: Status | None = None
    ward: str | None = None
    responder: str | None = None

    @property
    def active(self) -> bool:
        return self.status in ACTIVE


callout = EventSourcedEntity(
    "callout", state=CalloutState, description="The outreach team's callout to a patient."
)


def unchanged(detail: str, state: CalloutState) -> Reply:
    return Reply(reply={"outcome": "unchanged", "detail": detail, "status": state.status})


def expect(state: CalloutState, status: str, to: str) -> None:
    if state.status != status:
        now = state.status or "no callout"
        raise Rejection(f"cannot {to}: the callout is {now}, not {status}", status=state.status)


@callout.command("request")
def request(state: CalloutState, command: RequestCallout) -> Reply | CalloutRequested:
    """Call the team to the patient, unless a callout is already active."""
    if state.active:
        return unchanged(f"a callout is already {state.status}", state)
    return CalloutRequested(callout=state.callout + 1, **command.model_dump())


@callout.command("accept")
def accept(state: CalloutState, command: Accept) -> Reply | CalloutAccepted:
    """A responder takes the callout (the same responder again changes nothing)."""
    if state.status == "accepted" and state.responder == command.responder:
        return unchanged(f"already accepted by {state.responder}", state)
    expect(state, "requested", "accept")
    return CalloutAccepted(responder=command.responder, callout=state.callout)


@callout.command("arrive")
def arrive(state: CalloutState, command: Arrive) -> Reply | ResponderArrived:
    """The responder is at the bedside (again: nothing changes)."""
    if state.status == "arrived":
        return unchanged("already arrived", state)
    expect(state, "accepted", "arrive")
    return ResponderArrived(callout=state.callout)


@callout.command("complete")
def complete(state: CalloutState, command: Complete) -> CalloutCompleted:
    expect(state, "arrived", "complete")
    return CalloutCompleted(outcome=command.outcome)


@callout.command("stand-down")
def stand_down(state: CalloutState, command: StandDown) -> Reply | CalloutStoodDown:
    if not state.active:
        if command.if_active:
            return unchanged("no callout is active", state)
        raise Rejection("no callout is active for this patient", status=state.status)
    return CalloutStoodDown(reason=command.reason, callout=state.callout)


@callout.applies
def requested(state: CalloutState, event: CalloutRequested) -> CalloutState:
    return CalloutState(callout=event.callout, status="requested", ward=event.ward or state.ward)


@callout.applies
def accepted(state: CalloutState, event: CalloutAccepted) -> CalloutState:
    return state.model_copy(update={"status": "accepted", "responder": event.responder})


@callout.applies
def arrived(state: CalloutState, event: ResponderArrived) -> CalloutState:
    return state.model_copy(update={"status": "arrived"})


@callout.applies
def completed(state: CalloutState, event: CalloutCompleted) -> CalloutState:
    return state.model_copy(update={"status": "completed"})


@callout.applies
def stood_down(state: CalloutState, event: CalloutStoodDown) -> CalloutState:
    return state.model_copy(update={"status": "stood-down"})
