"""The on-call roster: who is paged for a callout, in order, and who is called when no one
answers. A key-value entity (its id is the team, ``outreach``): only the current roster
matters, and each change is still in the log for anyone who wants its history."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.sdk import Command, KeyValueEntity, Rejection, Update

Name = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._:@~-]+$")]
MET = "met"  # the medical emergency team's pager


class Roster(BaseModel):
    responders: list[Name] = Field(description="Paged in this order, one at a time.")
    escalate_to: Name = Field(default=MET, description="Paged when no responder accepts.")


class SetRoster(Command):
    responders: list[Name] = Field(max_length=20)
    escalate_to: Name = MET


class ReadRoster(Command):
    """Ask for the roster as a command's reply (what a workflow step can read)."""


roster = KeyValueEntity("roster", state=Roster, description="The team's on-call roster.")


@roster.command("set")
def set_roster(current: Roster | None, command: SetRoster) -> Roster:
    """Replace the roster (the order is the order responders are paged in)."""
    if len(set(command.responders)) != len(command.responders):
        raise Rejection("a responder is on the roster twice", responders=command.responders)
    return Roster(responders=command.responders, escalate_to=command.escalate_to)


@roster.command("read")
def read_roster(current: Roster | None, command: ReadRoster) -> Update[Roster]:
    """The roster, in the reply; nothing changes."""
    if current is None:
        raise Rejection("no roster has been set for this team")
    return Update(current, reply=current.model_dump())
