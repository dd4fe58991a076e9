"""Testkits for key-value entities and workflows, in the style of ``EntityTestKit``: the same
decide and apply the platform runs, in memory, so a passing test here behaves the same behind
the HTTP API.

    kit = KeyValueTestKit(roster, value=Roster(responders=["ana"]))
    kit.when("add", AddResponder(name="ben")).expect_value(Roster(responders=["ana", "ben"]))

    flow = WorkflowTestKit(callout_flow)
    flow.start("start", StartCallout(patient="p1"))
    flow.expect_step("page").expect_sent(Send("pager", "ana", "page", Page(patient="p1")))
    flow.accept()                       # the page was accepted: on to the next step
    flow.time_out()                     # nobody answered before the deadline
    flow.expect_step("page", attempt=1)  # ... its failover paged the next responder
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from app.sdk.entity import Decision
from app.sdk.events import Command, Event, Rejection
from app.sdk.key_value import KeyValueEntity
from app.sdk.timers import Send, Timer, TimerChange
from app.sdk.workflow import Workflow
from app.sdk.workflow_parts import RUNNING, STEP_TIMER, Progress, StepResult

V = TypeVar("V", bound=BaseModel)


@dataclass(frozen=True)
class TestedWrite(Generic[V]):
    before: V | None
    value: V | None
    events: tuple[Event, ...]
    reply: dict[str, Any] | None
    rejection: Rejection | None
    timers: tuple[TimerChange, ...] = ()

    def expect_value(self, expected: V) -> TestedWrite[V]:
        self._not_rejected()
        assert self.value == expected, f"expected value {expected!r}, got {self.value!r}"
        return self

    def expect_deleted(self) -> TestedWrite[V]:
        self._not_rejected()
        assert self.value is None, f"expected no value, got {self.value!r}"
        return self

    def expect_unchanged(self) -> TestedWrite[V]:
        self._not_rejected()
        assert not self.events, f"expected nothing written, got {self.events!r}"
        return self

    def expect_reply(self, **fields: Any) -> TestedWrite[V]:
        self._not_rejected()
        assert self.reply is not None, "expected a reply, got none"
        for name, value in fields.items():
            assert self.reply.get(name) == value, f"reply[{name!r}]: {self.reply!r}"
        return self

    def expect_rejection(self, match: str = "") -> TestedWrite[V]:
        assert self.rejection is not None, f"expected a rejection, got value {self.value!r}"
        assert match in self.rejection.reason, f"{self.rejection.reason!r} lacks {match!r}"
        return self

    def _not_rejected(self) -> None:
        assert self.rejection is None, f"command was rejected: {self.rejection}"


class KeyValueTestKit(Generic[V]):
    def __init__(self, entity: KeyValueEntity, value: V | None = None) -> None:
        self.entity = entity
        self.stored = entity.state_type(value=value, writes=0 if value is None else 1)

    @property
    def value(self) -> V | None:
        return self.stored.value  # type: ignore[no-any-return]

    def when(self, command_name: str, command: Command | dict[str, Any]) -> TestedWrite[V]:
        """Run one command on the current value; the kit keeps the new one."""
        model = _command(self.entity, command_name, command)
        before = self.value
        try:
            decision = self.entity.decide(self.stored, command_name, model)
        except Rejection as rejection:
            return TestedWrite(before, before, (), None, rejection)
        self.stored = self.entity.fold(decision.events, self.stored)
        return TestedWrite(
            before, self.value, decision.events, decision.reply, None, decision.timers
        )


class WorkflowTestKit:
    """A workflow driven by hand: commands, the call steps' answers, and its timers firing.

    The kit does what the platform would: after each decision it looks at the step the
    workflow is in, and for a call step records the command the runner would send (``sent``,
    ``last_sent``); ``accept``/``refuse`` give that command's answer, ``time_out`` fires the
    workflow's live timer (a step's deadline, a backoff's end, a sleep's end).
    """

    def __init__(self, workflow: Workflow) -> None:
        self.workflow = workflow
        self.progress: Progress = workflow.initial_state()
        self.events: list[Event] = []  # every event so far, in order
        self.sent: list[tuple[str, Send]] = []  # (idempotency key, command) of each call
        self.timer: Timer | None = None  # the live timer, if any
        self.last: Decision | None = None
        self.rejection: Rejection | None = None

    # -- driving ---------------------------------------------------------------------------
    def start(self, command_name: str, command: Command | dict[str, Any]) -> WorkflowTestKit:
        return self.command(command_name, command)

    def command(self, command_name: str, command: Command | dict[str, Any]) -> WorkflowTestKit:
        """One of the workflow's own commands (its start, or one a wait step expects)."""
        spec = self.workflow.commands.get(command_name)
        if spec is None or spec.internal:
            known = ", ".join(s.name for s in self.workflow.public_commands)
            raise LookupError(f"{self.workflow.name} has no command {command_name!r} ({known})")
        return self._run(command_name, _command(self.workflow, command_name, command))

    def accept(self, reply: dict[str, Any] | None = None) -> WorkflowTestKit:
        """The current call step's command was accepted (with ``reply``)."""
        return self._answer(accepted=True, reply=reply)

    def refuse(self, reason: str = "refused") -> WorkflowTestKit:
        """The current call step's command was rejected by its entity."""
        return self._answer(accepted=False, error=reason)

    def time_out(self) -> WorkflowTestKit:
        """The live timer fires now."""
        assert self.timer is not None, f"no timer is set (step {self.progress.step})"
        timer, self.timer = self.timer, None
        return self._run(timer.command, timer.body)

    def pause(self, reason: str = "") -> WorkflowTestKit:
        return self._internal("pause", {"reason": reason})

    def resume(self) -> WorkflowTestKit:
        return self._internal("resume", {})

    def cancel(self, reason: str = "") -> WorkflowTestKit:
        return self._internal("cancel", {"reason": reason})

    # -- expecting ---------------------------------------------------------------------------
    @property
    def state(self) -> Any:
        return self.progress.state

    @property
    def last_sent(self) -> Send | None:
        return self.sent[-1][1] if self.sent else None

    def expect_step(self, step: str, *, attempt: int | None = None) -> WorkflowTestKit:
        self._not_rejected()
        assert self.progress.step == step, f"expected step {step}, in {self.progress.step}"
        if attempt is not None:
            assert self.progress.attempt == attempt, f"attempt {self.progress.attempt}"
        return self

    def expect_status(self, status: str) -> WorkflowTestKit:
        assert self.progress.status == status, f"expected {status}, is {self.progress.status}"
        return self

    def expect_sent(self, expected: Send) -> WorkflowTestKit:
        assert self.last_sent == expected, f"expected {expected!r} sent, got {self.last_sent!r}"
        return self

    def expect_rejection(self, match: str = "") -> WorkflowTestKit:
        assert self.rejection is not None, "expected the last command to be rejected"
        assert match in self.rejection.reason, f"{self.rejection.reason!r} lacks {match!r}"
        return self

    def expect_reply(self, **fields: Any) -> WorkflowTestKit:
        self._not_rejected()
        reply = self.last.reply if self.last else None
        assert reply is not None, "expected a reply, got none"
        for name, value in fields.items():
            assert reply.get(name) == value, f"reply[{name!r}]: {reply!r}"
        return self

    # -- the platform's part -------------------------------------------------------------------
    def _answer(
        self, *, accepted: bool, reply: dict[str, Any] | None = None, error: str | None = None
    ) -> WorkflowTestKit:
        progress = self.progress
        spec = self.workflow.steps.get(progress.step or "")
        assert spec is not None and spec.kind == "call" and progress.status in RUNNING, (
            f"not in a call step (step {progress.step}, {progress.status})"
        )
        assert not progress.retrying, f"step {progress.step} is waiting out a backoff: time_out()"
        result = StepResult(
            step=progress.step or "",
            attempt=progress.attempt,
            accepted=accepted,
            reply=reply,
            error=error,
        )
        return self._run("step-result", result)

    def _internal(self, command_name: str, body: dict[str, Any]) -> WorkflowTestKit:
        return self._run(command_name, _command(self.workflow, command_name, body))

    def _run(self, command_name: str, command: Command) -> WorkflowTestKit:
        self.rejection = None
        try:
            decision = self.workflow.decide(self.progress, command_name, command)
        except Rejection as rejection:
            self.rejection, self.last = rejection, None
            return self
        self.last = decision
        self.progress = self.workflow.fold(decision.events, self.progress)
        self.events += decision.events
        for change in decision.timers:
            if change.key == STEP_TIMER:
                self.timer = change if isinstance(change, Timer) else None
        for event in decision.events:
            if isinstance(event, self.workflow.StepStarted):
                self._entered(event)
        return self

    def _entered(self, started: Any) -> None:
        spec = self.workflow.steps[started.step]
        if spec.kind == "call" and self.progress.status == "running":
            key = f"workflow:{self.workflow.name}:test:{started.step}:{started.attempt}"
            self.sent.append((key, self.workflow.sends(self.progress)))

    def _not_rejected(self) -> None:
        assert self.rejection is None, f"command was rejected: {self.rejection}"


def _command(entity: Any, command_name: str, command: Command | dict[str, Any]) -> Command:
    spec = entity.commands.get(command_name)
    if spec is None:
        known = ", ".join(sorted(entity.commands)) or "none"
        raise LookupError(f"{entity.name} has no command {command_name!r} (it has: {known})")
    return spec.model.model_validate(command) if isinstance(command, dict) else command


__all__ = ["KeyValueTestKit", "TestedWrite", "WorkflowTestKit"]
