"""The service `python -m bench workflows` runs: the same three commands sent by a workflow's
three steps and by an action, and a key-value entity next to an event-sourced one whose
command carries the same body."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from app.sdk import (
    Action,
    Command,
    End,
    Event,
    EventMeta,
    EventSourcedEntity,
    Goto,
    KeyValueEntity,
    Send,
    Service,
    Workflow,
)

Text = Annotated[str, Field(max_length=200)]


# -- the target of the three commands ---------------------------------------------------------
class Tally(BaseModel):
    n: int = 0


class Add(Command):
    step: int


class Added(Event):
    step: int


tally = EventSourcedEntity("tally", state=Tally)


@tally.command("add")
def add(state: Tally, command: Add) -> Added:
    return Added(step=command.step)


@tally.applies
def added(state: Tally, event: Added) -> Tally:
    return Tally(n=state.n + 1)


# -- three steps, by a workflow ---------------------------------------------------------------
class Three(BaseModel):
    target: str


class StartThree(Command):
    target: str


three = Workflow("three", state=Three)


@three.starts("start")
def start(command: StartThree) -> Goto[Three]:
    return Goto("one", Three(target=command.target))


def _send(step: int) -> object:
    def send(state: Three) -> Send:
        return Send("tally", state.target, "add", Add(step=step))

    return send


three.call("one", then="two")(_send(1))  # type: ignore[arg-type]
three.call("two", then="three")(_send(2))  # type: ignore[arg-type]
three.call("three")(_send(3))  # type: ignore[arg-type]


@three.replied("three")
def done(state: Three, reply: object) -> End[Three]:
    return End(reason="three done")


# -- the same three commands, by an action ----------------------------------------------------
class Go(Command):
    pass


class Went(Event):
    pass


class Trigger(BaseModel):
    went: int = 0


trigger = EventSourcedEntity("trigger", state=Trigger)


@trigger.command("go")
def go(state: Trigger, command: Go) -> Went:
    return Went()


@trigger.applies
def went(state: Trigger, event: Went) -> Trigger:
    return Trigger(went=state.went + 1)


fan_out = Action("fan-out", start_from="beginning")


@fan_out.handles
def three_sends(event: Went, meta: EventMeta) -> list[Send]:
    target = f"a-{meta.entity_id}"
    return [Send("tally", target, "add", Add(step=step)) for step in (1, 2, 3)]


# -- a key-value entity and an event-sourced one, the same body ---------------------------------
class Note(BaseModel):
    text: Text = ""


class Write(Command):
    text: Text = ""


note = KeyValueEntity("note", state=Note)


@note.command("write")
def write_note(current: Note | None, command: Write) -> Note:
    return Note(text=command.text)


class Written(Event):
    text: str


jot = EventSourcedEntity("jot", state=Note)


@jot.command("write")
def write_jot(state: Note, command: Write) -> Written:
    return Written(text=command.text)


@jot.applies
def written(state: Note, event: Written) -> Note:
    return Note(text=event.text)


service = Service(
    "bench-flows", entities=[tally, trigger, note, jot], actions=[fan_out], workflows=[three]
)
