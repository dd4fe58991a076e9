"""A responder's pager (its id is the responder's): a page sent, or withdrawn.

What a real pager gateway needs is in the events (``Paged``, ``PageWithdrawn``): a webhook
subscription on them delivers each to the gateway, signed and retried. One page at a time:
a new page replaces the one before.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.sdk import Command, Event, EventSourcedEntity, Reply


class Page(Command):
    patient: str = Field(min_length=1, max_length=200)
    callout: int = Field(ge=1)
    urgent: bool = Field(default=False, description="The emergency team's page.")


class WithdrawPage(Command):
    patient: str = Field(min_length=1, max_length=200)
    callout: int = Field(ge=1)
    reason: str = Field(min_length=1, max_length=200)


class Paged(Event):
    patient: str
    callout: int
    urgent: bool


class PageWithdrawn(Event):
    patient: str
    callout: int
    reason: str


class PagerState(BaseModel):
    patient: str | None = None  # the page it shows, if any
    callout: int | None = None
    pages: int = 0


pager = EventSourcedEntity("pager", state=PagerState, description="A responder's pager.")


@pager.command("page")
def page(state: PagerState, command: Page) -> Paged:
    return Paged(**command.model_dump())


@pager.command("withdraw")
def withdraw(state: PagerState, command: WithdrawPage) -> Reply | PageWithdrawn:
    """Withdraw the page for this callout; one already gone is 'unchanged', not an error."""
    if (state.patient, state.callout) != (command.patient, command.callout):
        return Reply(reply={"outcome": "unchanged", "detail": "no such page is showing"})
    return PageWithdrawn(**command.model_dump())


@pager.applies
def paged(state: PagerState, event: Paged) -> PagerState:
    return PagerState(patient=event.patient, callout=event.callout, pages=state.pages + 1)


@pager.applies
def withdrawn(state: PagerState, event: PageWithdrawn) -> PagerState:
    return PagerState(pages=state.pages)
