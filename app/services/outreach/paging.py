"""The callout workflow: page the on-call responders one by one until one accepts, then wait
for them to arrive; if no one accepts, page the emergency team. If the callout is stood down
first (the ward resolved the alert), the page showing is withdrawn: the compensation.

    read-roster → page → await-acceptance ──accept──→ record-acceptance → await-arrival
                   ↑          │ timeout                                    │ arrive
                   └── pass-over (withdraw; next on the roster,            ↓
                              or none left → escalate → await-arrival)   record-arrival → done
    stand-down, in any step → withdraw-page → done (stood down)

One per callout, its id ``{patient}.{callout number}``, started by the ``paging`` action when
a callout is requested and told by it when the callout is stood down. Responders answer
over HTTP, ``POST /entities/callout-flow/{id}/accept`` and ``.../arrive``, or on the callout
itself (``/entities/callout/{patient}/accept``), which the action passes on to the workflow.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from app.sdk import (
    Action,
    Command,
    End,
    EventMeta,
    Goto,
    Send,
    Workflow,
)
from app.services.outreach.callout import (
    Accept,
    Arrive,
    CalloutAccepted,
    CalloutRequested,
    CalloutStoodDown,
    ResponderArrived,
)
from app.services.outreach.pager import Page, WithdrawPage
from app.services.outreach.roster import MET, ReadRoster
from app.services.outreach.settings import accept_window, arrival_window

TEAM = "outreach"  # the roster's id


class Paging(BaseModel):
    patient: str
    callout: int
    responders: list[str] = []
    escalate_to: str = MET
    next: int = 0  # the next responder on the roster to page
    showing: str | None = None  # the pager showing this callout's page
    responder: str | None = None  # who accepted
    escalated: bool = False


class StartPaging(Command):
    patient: str = Field(min_length=1, max_length=200)
    callout: int = Field(ge=1)


class AcceptCallout(Command):
    responder: str = Field(min_length=1, max_length=200)


class ArriveAtBedside(Command):
    pass


class StandDownPaging(Command):
    reason: str = Field(min_length=1, max_length=200)


def flow_id(patient: str, callout: int) -> str:
    return f"{patient}.{callout}"


callout_flow = Workflow(
    "callout-flow", state=Paging, description="Pages responders until one comes to the patient."
)


@callout_flow.starts("start")
def start(command: StartPaging) -> Goto[Paging]:
    """Start paging for a callout."""
    return Goto("read-roster", Paging(patient=command.patient, callout=command.callout))


@callout_flow.call("read-roster", max_retries=2, failover="escalate")
def read(state: Paging) -> Send:
    return Send("roster", TEAM, "read", ReadRoster())


@callout_flow.replied("read-roster")
def roster_read(state: Paging, reply: dict[str, Any] | None) -> Goto[Paging]:
    assert reply is not None
    update = {"responders": reply["responders"], "escalate_to": reply["escalate_to"]}
    return _page_next(state.model_copy(update=update))


def _page_next(state: Paging) -> Goto[Paging]:
    """Page the next responder, or the emergency team when none is left. The pager is
    named before its page is sent, so a stand-down meanwhile withdraws it too."""
    if state.next < len(state.responders):
        return Goto("page", state.model_copy(update={"showing": state.responders[state.next]}))
    return _escalate(state)


def _escalate(state: Paging) -> Goto[Paging]:
    return Goto("escalate", state.model_copy(update={"showing": state.escalate_to}))


@callout_flow.call("page", then="await-acceptance", max_retries=2, failover="pass-over")
def page(state: Paging) -> Send:
    responder = state.responders[state.next]
    return Send("pager", responder, "page", Page(patient=state.patient, callout=state.callout))


callout_flow.wait("await-acceptance", timeout=accept_window, failover="pass-over")


@callout_flow.call("pass-over", max_retries=2)
def pass_over(state: Paging) -> Send:
    """Withdraw the unanswered page before the next responder is paged."""
    return _withdraw(state, state.responders[state.next], "not accepted in time")


@callout_flow.replied("pass-over")
def passed_over(state: Paging, reply: dict[str, Any] | None) -> Goto[Paging]:
    return _page_next(state.model_copy(update={"next": state.next + 1, "showing": None}))


@callout_flow.call("escalate", max_retries=5)
def escalate(state: Paging) -> Send:
    page = Page(patient=state.patient, callout=state.callout, urgent=True)
    return Send("pager", state.escalate_to, "page", page)


@callout_flow.replied("escalate")
def escalated(state: Paging, reply: dict[str, Any] | None) -> Goto[Paging]:
    """No one had accepted: the emergency team takes the callout. (Escalated because no one
    arrived: whoever accepted still holds it, the team comes too.)"""
    state = state.model_copy(update={"escalated": True})
    if state.responder is None:
        return Goto("record-acceptance", state.model_copy(update={"responder": state.escalate_to}))
    return Goto("await-arrival", state)


# A responder may accept while a page is on its way, or the next one is being sent.
PAGING_STEPS = ("read-roster", "page", "await-acceptance", "pass-over", "escalate")


@callout_flow.command("accept", during=PAGING_STEPS)
def accept(state: Paging, command: AcceptCallout) -> Goto[Paging]:
    """A responder accepts the callout."""
    return Goto("record-acceptance", state.model_copy(update={"responder": command.responder}))


# Refused (the callout was taken by someone else, or stood down meanwhile): the callout is
# the record, and the workflow waits for an arrival (or its stand-down) all the same.
@callout_flow.call(
    "record-acceptance", then="await-arrival", max_retries=2, failover="await-arrival"
)
def record_acceptance(state: Paging) -> Send:
    return Send("callout", state.patient, "accept", Accept(responder=state.responder or ""))


callout_flow.wait("await-arrival", timeout=arrival_window, failover="escalate")


@callout_flow.command("arrive", during=("record-acceptance", "await-arrival", "escalate"))
def arrive(state: Paging, command: ArriveAtBedside) -> Goto[Paging]:
    """The responder (or the emergency team) is at the bedside."""
    return Goto("record-arrival")


@callout_flow.call("record-arrival", max_retries=2)
def record_arrival(state: Paging) -> Send:
    return Send("callout", state.patient, "arrive", Arrive())


@callout_flow.replied("record-arrival")
def arrival_recorded(state: Paging, reply: dict[str, Any] | None) -> End[Paging]:
    return End(reason="a responder is with the patient")


@callout_flow.command("stand-down")
def stand_down(state: Paging, command: StandDownPaging) -> Goto[Paging]:
    """The callout is no longer needed: withdraw the page showing (withdrawing one that is
    not showing changes nothing, so a page still on its way is covered too)."""
    return Goto("withdraw-page")


@callout_flow.call("withdraw-page", max_retries=5)
def withdraw_page(state: Paging) -> Send:
    return _withdraw(state, state.showing or state.escalate_to, "the callout was stood down")


@callout_flow.replied("withdraw-page")
def page_withdrawn(state: Paging, reply: dict[str, Any] | None) -> End[Paging]:
    return End(state.model_copy(update={"showing": None}), reason="stood down")


def _withdraw(state: Paging, pager_id: str, reason: str) -> Send:
    body = WithdrawPage(patient=state.patient, callout=state.callout, reason=reason)
    return Send("pager", pager_id, "withdraw", body)


# -- the action: a requested callout starts its paging; a stood-down one stops it; one accepted
# or arrived at on the callout itself (not by this workflow) tells the workflow ---------------
paging = Action(
    "paging",
    start_from="now",  # callouts requested before paging existed are not paged now
    description="Starts the callout workflow for each callout, and stands it down.",
)


@paging.handles
def on_requested(event: CalloutRequested, meta: EventMeta) -> Send:
    start = StartPaging(patient=meta.entity_id, callout=event.callout)
    return Send("callout-flow", flow_id(meta.entity_id, event.callout), "start", start)


@paging.handles
def on_stood_down(event: CalloutStoodDown, meta: EventMeta) -> Send | None:
    if event.callout is None:
        return None  # stood down before callouts carried their number: no workflow of it
    body = StandDownPaging(reason=event.reason)
    return Send("callout-flow", flow_id(meta.entity_id, event.callout), "stand-down", body)


def _not_by_the_workflow(meta: EventMeta) -> bool:
    return not str(meta.metadata.get("actor", "")).startswith("workflow:callout-flow/")


@paging.handles
def on_accepted(event: CalloutAccepted, meta: EventMeta) -> Send | None:
    if event.callout is None or not _not_by_the_workflow(meta):
        return None
    body = AcceptCallout(responder=event.responder)
    return Send("callout-flow", flow_id(meta.entity_id, event.callout), "accept", body)


@paging.handles
def on_arrived(event: ResponderArrived, meta: EventMeta) -> Send | None:
    if event.callout is None or not _not_by_the_workflow(meta):
        return None
    return Send("callout-flow", flow_id(meta.entity_id, event.callout), "arrive", ArriveAtBedside())
