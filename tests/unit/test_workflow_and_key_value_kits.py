"""Key-value entities and workflows in memory, through their testkits: the same decide and
apply the platform runs, so what holds here holds behind the HTTP API."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import BaseModel

from app.sdk import Command, Send, Service
from app.sdk.key_value import KeyValueEntity
from app.sdk.testing import KeyValueTestKit, WorkflowTestKit
from app.sdk.workflow import Goto, Workflow
from tests.support.flows import (
    Ack,
    AppendTag,
    Bump,
    DropNote,
    Note,
    Remark,
    SetNote,
    StartBumping,
    bumper,
    memo,
    note,
)


def test_a_key_value_command_returns_the_new_value() -> None:
    kit = KeyValueTestKit(note)
    kit.when("tag", AppendTag(tag="x")).expect_rejection("no note")
    kit.when("set", SetNote(text="hi")).expect_value(Note(text="hi"))
    kit.when("tag", {"tag": "a"}).expect_value(Note(text="hi", tags=["a"])).expect_reply(tags=1)
    kit.when("set", SetNote(text="hi", tags=["a"])).expect_unchanged()
    kit.when("drop", DropNote()).expect_deleted().expect_reply(had=True)
    assert kit.value is None
    kit.when("drop", DropNote()).expect_unchanged().expect_reply(had=False)


def test_expiry_is_a_timer_every_write_moves_and_a_delete_cancels() -> None:
    kit = KeyValueTestKit(memo)
    first = kit.when("set", {"text": "a"})
    (timer,) = first.timers
    assert (timer.key, timer.command, timer.after) == ("expire", "expire", timedelta(seconds=1))
    second = kit.when("set", {"text": "b"})
    assert second.timers[0].body.writes == 2  # type: ignore[union-attr]
    # The first write's timer, had it fired, expires nothing: a write came after it.
    assert memo.decide(kit.stored, "expire", first.timers[0].body).events == ()  # type: ignore[union-attr]
    expired = memo.decide(kit.stored, "expire", second.timers[0].body)  # type: ignore[union-attr]
    assert [type(event).__name__ for event in expired.events] == ["MemoDeleted"]


def test_key_value_declarations_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="expire_after must be positive"):
        KeyValueEntity("bad", state=Note, expire_after=timedelta(0))
    with pytest.raises(TypeError, match="no event handlers"):
        note.applies(lambda state, event: state)
    broken = KeyValueEntity("broken", state=Note)

    @broken.command("set")
    def wrong(current: Note | None, command: SetNote) -> Note:
        return {"text": command.text}  # type: ignore[return-value]

    with pytest.raises(TypeError, match="returns a Note, Update or Delete"):
        KeyValueTestKit(broken).when("set", SetNote(text="x"))


def test_a_workflow_driven_by_hand() -> None:
    kit = WorkflowTestKit(bumper)
    kit.start("start", StartBumping(target="c1", by=2))
    kit.expect_step("bump", attempt=1).expect_sent(Send("counter", "c1", "bump", Bump(by=2)))
    kit.refuse("the counter only goes up")
    assert kit.progress.retrying and kit.progress.error == "the counter only goes up"
    kit.time_out()  # the backoff ends: attempt 2
    kit.expect_step("bump", attempt=2).expect_sent(Send("counter", "c1", "bump", Bump(by=2)))
    assert [key for key, _ in kit.sent] == [
        "workflow:bumper:test:bump:1",
        "workflow:bumper:test:bump:2",
    ]
    kit.accept({"ok": True}).expect_step("await-ack")
    kit.command("remark", Remark(text="hello")).expect_step("await-ack")
    assert kit.state.notes == ["hello"]
    kit.command("start", StartBumping(target="c1")).expect_rejection("already running")
    kit.command("ack", Ack()).expect_status("completed")
    assert kit.timer is None  # the end cancelled the deadline
    kit.command("ack", Ack()).expect_rejection("completed")


def test_retries_then_failover_then_timeouts() -> None:
    kit = WorkflowTestKit(bumper)
    kit.start("start", StartBumping(target="c1"))
    kit.refuse().time_out().refuse()
    kit.expect_step("fallback", attempt=1).expect_sent(Send("counter", "c1", "bump", Bump(by=100)))
    kit.accept().expect_step("await-ack")
    assert kit.timer is not None and kit.timer.command == "step-timeout"
    kit.time_out().expect_step("cool-off")  # a wait without retries fails over
    kit.time_out().expect_step("last-bump")  # the sleep is over
    kit.accept().expect_status("completed")
    names = [type(event).__name__.removeprefix("Bumper") for event in kit.events]
    assert names == [
        "StepStarted",
        "StepCalled",
        "StepFailed",
        "StepStarted",
        "StepCalled",
        "StepFailed",
        "StepStarted",
        "StepCalled",
        "StepStarted",
        "StepFailed",
        "StepStarted",
        "StepStarted",
        "StepCalled",
        "Ended",
    ]


def test_pause_resume_cancel() -> None:
    kit = WorkflowTestKit(bumper)
    kit.start("start", StartBumping(target="c1"))
    kit.pause("look").expect_status("paused")
    assert kit.timer is None
    kit.accept()  # the answer arriving while paused is passed over...
    kit.expect_step("bump", attempt=1).expect_reply(outcome="stale")
    kit.command("ack", Ack()).expect_rejection("paused")
    kit.resume().expect_step("bump", attempt=1)  # ...and the step runs again, same key
    assert [key for key, _ in kit.sent] == ["workflow:bumper:test:bump:1"] * 2
    kit.accept().cancel("no longer needed").expect_status("cancelled")
    kit.resume().expect_rejection("not paused")


class S(BaseModel):
    n: int = 0


class Go(Command):
    pass


def test_workflow_declarations_are_checked_when_the_service_is_built() -> None:
    flow = Workflow("dangling", state=S)

    @flow.starts("start")
    def start(command: Go) -> Goto[S]:
        return Goto("first", S())

    @flow.call("first", then="nowhere", failover="neither")
    def first(state: S) -> Send:
        return Send("x", "y", "z", Go())

    with pytest.raises(ValueError, match="first -> neither, first -> nowhere"):
        Service("s", workflows=[flow])
    with pytest.raises(ValueError, match="declared twice"):
        flow.wait("first")
    with pytest.raises(ValueError, match="step name"):
        flow.wait("Not A Name")
    with pytest.raises(TypeError, match="no event handlers"):
        flow.applies(lambda state, event: state)
    lonely = Workflow("lonely", state=S)

    @lonely.call("only")
    def only(state: S) -> Send:
        return Send("x", "y", "z", Go())

    with pytest.raises(ValueError, match="needs then= or @replied"):
        Service("s", workflows=[lonely])
