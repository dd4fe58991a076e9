"""A small service for the workflow and key-value tests: a counter (the entity a workflow's
steps send to), a key-value note that expires, and a workflow with every kind of step.

``bumper``: bump the counter (retried once after a refusal, then the fallback bumps it by
100), wait for an ``ack`` (timeout: sleep briefly, then a last bump of 1000 and done)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from pydantic import BaseModel, Field

from app.sdk import Command, Event, EventSourcedEntity, Rejection, Send, Service
from app.sdk.key_value import Delete, KeyValueEntity, Update
from app.sdk.workflow import End, Fail, Goto, Stay, Workflow


class Counter(BaseModel):
    n: int = 0
    refusals: int = 0


class Bump(Command):
    by: int = 1


class Bumped(Event):
    by: int


counter = EventSourcedEntity("counter", state=Counter)


@counter.command("bump")
def bump(state: Counter, command: Bump) -> Bumped:
    if command.by < 0:
        raise Rejection("the counter only goes up", by=command.by)
    return Bumped(by=command.by)


@counter.applies
def bumped(state: Counter, event: Bumped) -> Counter:
    return state.model_copy(update={"n": state.n + event.by})


class Note(BaseModel):
    text: str
    tags: list[str] = []


class SetNote(Command):
    text: str = Field(min_length=1)
    tags: list[str] = []


class AppendTag(Command):
    tag: str


class DropNote(Command):
    pass


note = KeyValueEntity("note", state=Note, description="A note per key.")


@note.command("set")
def set_note(current: Note | None, command: SetNote) -> Note:
    return Note(text=command.text, tags=command.tags)


@note.command("tag")
def tag_note(current: Note | None, command: AppendTag) -> Update[Note]:
    if current is None:
        raise Rejection("no note to tag")
    tagged = current.model_copy(update={"tags": [*current.tags, command.tag]})
    return Update(tagged, reply={"tags": len(tagged.tags)})


@note.command("drop")
def drop_note(current: Note | None, command: DropNote) -> Delete:
    return Delete(reply={"had": current is not None})


class Memo(BaseModel):
    text: str


class SetMemo(Command):
    text: str


memo = KeyValueEntity("memo", state=Memo, expire_after=timedelta(seconds=1))


@memo.command("set")
def set_memo(current: Memo | None, command: SetMemo) -> Memo:
    return Memo(text=command.text)


class Bumping(BaseModel):
    target: str
    by: int
    ack_within: float = 2.0  # seconds the await-ack step waits
    acks: int = 0
    notes: list[str] = []


class StartBumping(Command):
    target: str
    by: int = 1
    ack_within: float = Field(default=2.0, gt=0, le=60)


class Ack(Command):
    pass


class Remark(Command):
    text: str


class Abandon(Command):
    reason: str = "abandoned"


bumper = Workflow("bumper", state=Bumping, description="Bump a counter, wait for an ack.")


@bumper.starts("start")
def start(command: StartBumping) -> Goto[Bumping]:
    return Goto("bump", Bumping(**command.model_dump()))


@bumper.call(
    "bump",
    then="await-ack",
    max_retries=1,
    backoff=timedelta(seconds=1),
    failover="fallback",
)
def send_bump(state: Bumping) -> Send:
    return Send("counter", state.target, "bump", Bump(by=state.by))


@bumper.call("fallback", then="await-ack")
def send_fallback(state: Bumping) -> Send:
    return Send("counter", state.target, "bump", Bump(by=100))


bumper.wait(
    "await-ack", timeout=lambda state: timedelta(seconds=state.ack_within), failover="cool-off"
)
bumper.sleep("cool-off", timedelta(milliseconds=100), then="last-bump")


@bumper.call("last-bump")
def send_last(state: Bumping) -> Send:
    return Send("counter", state.target, "bump", Bump(by=1000))


@bumper.replied("last-bump")
def last_bumped(state: Bumping, reply: dict[str, Any] | None) -> End[Bumping]:
    return End(reason="no ack came")


@bumper.command("ack", during="await-ack")
def ack(state: Bumping, command: Ack) -> End[Bumping]:
    return End(state.model_copy(update={"acks": state.acks + 1}), reason="acked")


@bumper.command("remark")
def remark(state: Bumping, command: Remark) -> Stay[Bumping]:
    return Stay(state.model_copy(update={"notes": [*state.notes, command.text]}))


@bumper.command("abandon", during=("await-ack", "cool-off"))
def abandon(state: Bumping, command: Abandon) -> Fail[Bumping]:
    return Fail(command.reason, reply={"abandoned": True})


service = Service("flows", entities=[counter, note, memo], workflows=[bumper])
