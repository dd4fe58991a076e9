"""Workflow: a durable multi-step process, with timeouts, retries and compensation.

    flow = Workflow("callout-flow", state=Callout)

    @flow.starts("start")
    def start(command: StartCallout) -> Goto:
        return Goto("page", Callout(patient=command.patient))

    @flow.call("page", timeout=timedelta(seconds=30), max_retries=2, failover="escalate")
    def page(state: Callout) -> Send:
        return Send("pager", state.responder, "page", Page(patient=state.patient))

    flow.wait("await-acceptance", timeout=timedelta(minutes=5), failover="page-next")

    @flow.command("accept", during="await-acceptance")
    def accept(state: Callout, command: Accept) -> Goto:
        return Goto("await-arrival", state.model_copy(update={"responder": command.who}))

A step does one thing, then moves on:
  * ``call``: sends one command to an entity (``Send``); when it is accepted the workflow
    goes to ``then`` (or to what ``@flow.replied(step)`` decides from the reply);
  * ``wait``: waits for one of the workflow's own commands (``@flow.command(..., during=)``),
    which decides where to go;
  * ``sleep``: waits for its timer, then goes to ``then``.
Per step: ``timeout`` (a call whose command was not accepted in time, a wait nobody ended),
``max_retries`` with ``backoff`` (a rejected or timed-out call is sent again, a wait is waited
again), then ``failover``: the step compensation starts from (without one, the workflow fails).

It is an entity underneath: started and driven by ``POST /entities/{name}/{id}/{command}``,
read by ``GET /entities/{name}/{id}`` (status, step, attempt, deadline, state). Its progress
is logged as events of its own (``{name}.StepStarted``, ``.StepCalled``, ``.StepFailed``,
``.StateChanged``, ``.Paused``, ``.Resumed``, ``.Ended``), so views, WebSockets and webhooks
see it. Timeouts and backoffs are timers written with the step's events; a call step is run
by the workflow's runner (a consumer of the log) with the idempotency key
``workflow:{name}:{id}:{step}:{attempt}``, so a step resumed after a crash never sends its
command twice. A call retried after a timeout is a new attempt with a new key: its target
may see the command twice, once late, as with any retry after a timeout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, create_model

from app.sdk.entity import CommandSpec, EventSourcedEntity, Reply, annotation_of, camel
from app.sdk.events import Command, Event, Rejection
from app.sdk.timers import CancelTimer, Send, Timer
from app.sdk.workflow_parts import (
    RUNNING,
    STEP_NAME,
    STEP_TIMER,
    CancelWorkflow,
    End,
    Fail,
    Goto,
    PauseWorkflow,
    Progress,
    ResumeWorkflow,
    RetryStep,
    S,
    Stay,
    StepResult,
    StepSpec,
    StepTimeout,
    Timeout,
    Transition,
    progress_event,
    progress_events,
)

__all__ = ["End", "Fail", "Goto", "Stay", "Workflow"]


class Workflow(EventSourcedEntity[Progress]):
    snapshot_every = 1  # one row per workflow, read alone, and listed by GET /workflows

    def __init__(self, name: str, *, state: type[S], description: str = "") -> None:
        progress = create_model(
            f"{camel(name)}Progress",
            __base__=Progress,
            state=(state | None, None),  # type: ignore[valid-type]
        )
        super().__init__(name, state=progress, description=description)
        self.value_type = state
        self.steps: dict[str, StepSpec] = {}
        self._replied: dict[str, Callable[[Any, dict[str, Any] | None], Transition]] = {}
        self._during: dict[str, tuple[str, ...] | None] = {}
        self._events(camel(name), state)
        for command, model, handler in (
            ("step-result", StepResult, self._step_result),
            ("step-timeout", StepTimeout, self._step_timeout),
            ("retry-step", RetryStep, self._retry_step),
            ("pause", PauseWorkflow, self._pause),
            ("resume", ResumeWorkflow, self._resume),
            ("cancel", CancelWorkflow, self._cancel),
        ):
            self.add_command(CommandSpec(command, model, handler, internal=True))

    def _events(self, prefix: str, state: type[BaseModel]) -> None:
        made = {
            type_name: progress_event(prefix, type_name, doc, fields)
            for type_name, (doc, fields) in progress_events(state).items()
        }
        for model in made.values():
            self.register_event(model)
        self.StepStarted, self.StepCalled = made["StepStarted"], made["StepCalled"]
        self.StepFailed, self.StateChanged = made["StepFailed"], made["StateChanged"]
        self.Paused, self.Resumed, self.Ended = made["Paused"], made["Resumed"], made["Ended"]
        appliers = {
            self.StepStarted: self._started,
            self.StepCalled: self._called,
            self.StepFailed: self._failed,
            self.StateChanged: self._state_changed,
            self.Paused: self._paused,
            self.Resumed: self._resumed,
            self.Ended: self._ended,
        }
        self._registry.appliers.update(appliers)

    # -- declaring -------------------------------------------------------------------------
    def applies(self, handler: Any) -> Any:
        raise TypeError(
            f"workflow {self.name}: no event handlers; its handlers return Goto, Stay, End or Fail"
        )

    def starts(self, name: str, *, summary: str = "") -> Callable[[Callable[..., Any]], Any]:
        """Register ``handler(command) -> Goto(first_step, state)``: the command that starts
        one (409 if it is already running or ended)."""

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            model = annotation_of(handler, 0, Command)
            doc = summary or (handler.__doc__ or "").strip().split("\n")[0]

            def decide(progress: Progress, command: Command) -> Reply:
                if progress.status is not None:
                    raise Rejection(
                        f"workflow {self.name} is already {progress.status}",
                        status=progress.status,
                        step=progress.step,
                    )
                outcome = handler(command)
                if not isinstance(outcome, Goto) or outcome.state is None:
                    raise TypeError(f"{self.name}: a start handler returns Goto(step, state)")
                return self._transition(progress, outcome, outcome.state)

            decide.__doc__ = handler.__doc__
            self.add_command(CommandSpec(name, model, decide, doc))
            return handler

        return register

    def command(
        self, name: str, *, during: str | Iterable[str] | None = None, summary: str = ""
    ) -> Callable[[Callable[..., Any]], Any]:
        """Register ``handler(state, command) -> Goto | Stay | End | Fail``, accepted while
        the workflow is in one of the ``during`` steps (None: any step while it runs);
        otherwise 409 naming the step it is in."""
        steps = (during,) if isinstance(during, str) else None if during is None else tuple(during)

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            model = annotation_of(handler, 1, Command)
            doc = summary or (handler.__doc__ or "").strip().split("\n")[0]

            def decide(progress: Progress, command: Command) -> Reply:
                self._expect_step(progress, name, steps)
                return self._transition(progress, handler(progress.state, command))

            decide.__doc__ = handler.__doc__
            self.add_command(CommandSpec(name, model, decide, doc))
            self._during[name] = steps
            return handler

        return register

    def call(
        self,
        name: str,
        *,
        then: str | None = None,
        timeout: Timeout = None,
        max_retries: int = 0,
        backoff: timedelta = timedelta(seconds=1),
        failover: str | None = None,
    ) -> Callable[[Callable[[Any], Send]], Callable[[Any], Send]]:
        """Register ``send(state) -> Send``: the command this step sends."""

        def register(send: Callable[[Any], Send]) -> Callable[[Any], Send]:
            self._add_step(
                StepSpec(name, "call", send, then, timeout, max_retries, backoff, failover)
            )
            return send

        return register

    def replied(
        self, step: str
    ) -> Callable[[Callable[..., Transition]], Callable[..., Transition]]:
        """Register ``handler(state, reply) -> Goto | End | Fail`` for a call step: where to
        go once its command was accepted (instead of its ``then``)."""

        def register(handler: Callable[..., Transition]) -> Callable[..., Transition]:
            self._replied[step] = handler
            return handler

        return register

    def wait(
        self,
        name: str,
        *,
        timeout: Timeout = None,
        max_retries: int = 0,
        failover: str | None = None,
    ) -> None:
        """A step that waits for one of the workflow's commands (``during=`` it)."""
        self._add_step(StepSpec(name, "wait", None, None, timeout, max_retries, failover=failover))

    def sleep(self, name: str, duration: Timeout, *, then: str) -> None:
        """A step that waits ``duration``, then goes to ``then``."""
        self._add_step(StepSpec(name, "sleep", None, then, duration))

    def _add_step(self, spec: StepSpec) -> None:
        if not STEP_NAME.match(spec.name):
            raise ValueError(f"workflow {self.name}: step name {spec.name!r}: a-z, 0-9 and '-'")
        if spec.name in self.steps:
            raise ValueError(f"workflow {self.name}: step {spec.name!r} declared twice")
        if spec.max_retries < 0:
            raise ValueError(f"workflow {self.name}: step {spec.name}: max_retries >= 0")
        fixed = spec.timeout
        if isinstance(fixed, timedelta) and fixed <= timedelta(0):
            raise ValueError(f"workflow {self.name}: step {spec.name}: timeout must be positive")
        self.steps[spec.name] = spec

    def check(self) -> None:
        """Every step a declaration names exists, found when the service is declared."""
        super().check()
        named = [
            (spec.name, target)
            for spec in self.steps.values()
            for target in (spec.then, spec.failover)
            if target is not None
        ]
        named += [
            (f"command {c}", step) for c, steps in self._during.items() for step in steps or ()
        ]
        named += [(f"replied({step})", step) for step in self._replied]
        missing = sorted({f"{where} -> {step}" for where, step in named if step not in self.steps})
        if missing:
            raise ValueError(f"workflow {self.name}: no such step: {', '.join(missing)}")
        for spec in self.steps.values():
            if spec.kind == "call" and spec.then is None and spec.name not in self._replied:
                raise ValueError(
                    f"workflow {self.name}: call step {spec.name} needs then= or @replied"
                )

    # -- reading the declaration ------------------------------------------------------------
    def sends(self, progress: Progress) -> Send:
        """The command the current call step sends (the runner's question)."""
        spec = self.steps[progress.step or ""]
        assert spec.send is not None
        send = spec.send(progress.state)
        if not isinstance(send, Send):
            raise TypeError(f"workflow {self.name}: step {spec.name} returns a Send, not {send!r}")
        return send

    def value_of(self, progress: Progress) -> Any:
        return progress.state

    # -- deciding ---------------------------------------------------------------------------
    def _expect_step(self, progress: Progress, command: str, steps: tuple[str, ...] | None) -> None:
        if progress.status is None:
            raise Rejection(f"workflow {self.name} has not started", status=None, step=None)
        if progress.status != "running":
            raise Rejection(
                f"workflow {self.name} is {progress.status} (in step {progress.step}):"
                f" {command} is not accepted",
                status=progress.status,
                step=progress.step,
            )
        if steps is not None and progress.step not in steps:
            raise Rejection(
                f"{command} is accepted in step {' or '.join(steps)}; the workflow is in step"
                f" {progress.step}",
                status=progress.status,
                step=progress.step,
                expected=list(steps),
            )

    def _transition(
        self,
        progress: Progress,
        outcome: Transition,
        state: Any = None,
        events: list[Event] | None = None,
    ) -> Reply:
        """Events and timers of a handler's outcome (``events`` already decided go first)."""
        done = list(events or [])
        if outcome.state is not None:
            state = outcome.state
        elif state is None:
            state = progress.state
        reply = None if outcome.reply is None else dict(outcome.reply)
        if isinstance(outcome, Stay):
            if state != progress.state:
                done.append(self.StateChanged(state=state))
            return Reply(done, reply)
        if isinstance(outcome, Goto):
            if outcome.step not in self.steps:
                raise TypeError(f"workflow {self.name}: no step {outcome.step!r}")
            return self._enter(outcome.step, 1, state, done, reply)
        status = "completed" if isinstance(outcome, End) else "failed"
        ended = self.Ended(status=status, step=progress.step, state=state, reason=outcome.reason)
        return Reply([*done, ended], reply, (CancelTimer(STEP_TIMER),))

    def _enter(
        self,
        step: str,
        attempt: int,
        state: Any,
        done: list[Event],
        reply: dict[str, Any] | None = None,
    ) -> Reply:
        """Start ``step`` (again): its event, and its timer (the deadline, or a sleep's end)."""
        spec = self.steps[step]
        deadline, timers = None, [CancelTimer(STEP_TIMER)]
        allowed = spec.time_allowed(state)
        if allowed is not None:
            deadline = datetime.now(UTC) + allowed
            body: Command
            if spec.kind == "sleep":
                command, body = "retry-step", RetryStep(step=step, attempt=attempt)
            else:
                command, body = "step-timeout", StepTimeout(step=step, attempt=attempt)
            timers = [Timer(STEP_TIMER, command, body, at=deadline)]
        started = self.StepStarted(step=step, attempt=attempt, state=state, deadline=deadline)
        return Reply([*done, started], reply, tuple(timers))

    def _step_result(self, progress: Progress, result: StepResult) -> Reply:
        if not self._at(progress, result.step, result.attempt) or progress.retrying:
            return Reply(reply={"outcome": "stale"})  # moved on since: a late or second answer
        called = self.StepCalled(
            step=result.step,
            attempt=result.attempt,
            sent=result.sent,
            accepted=result.accepted,
            reply=result.reply,
            error=result.error,
        )
        if not result.accepted:
            return self._step_failed(progress, result.error or "refused", [called])
        spec = self.steps[result.step]
        handler = self._replied.get(result.step)
        if handler is not None:
            outcome = handler(progress.state, result.reply)
        else:
            assert spec.then is not None
            outcome = Goto(spec.then)
        return self._transition(progress, outcome, events=[called])

    def _step_timeout(self, progress: Progress, timeout: StepTimeout) -> Reply:
        if not self._at(progress, timeout.step, timeout.attempt) or progress.retrying:
            return Reply(reply={"outcome": "stale"})
        allowed = self.steps[timeout.step].time_allowed(progress.state)
        return self._step_failed(progress, f"timed out after {allowed}", [])

    def _step_failed(self, progress: Progress, error: str, done: list[Event]) -> Reply:
        step, attempt = progress.step or "", progress.attempt
        spec = self.steps[step]
        if attempt <= spec.max_retries:
            retry_at = datetime.now(UTC) + spec.retry_delay(attempt + 1)
            failed = self.StepFailed(step=step, attempt=attempt, error=error, retry_at=retry_at)
            again = Timer(
                STEP_TIMER, "retry-step", RetryStep(step=step, attempt=attempt + 1), at=retry_at
            )
            return Reply([*done, failed], None, (again,))
        failed = self.StepFailed(step=step, attempt=attempt, error=error)
        if spec.failover is not None:
            return self._enter(spec.failover, 1, progress.state, [*done, failed])
        reason = f"step {step} failed after {attempt} attempt(s): {error}"
        ended = self.Ended(status="failed", step=step, state=progress.state, reason=reason)
        return Reply([*done, failed, ended], None, (CancelTimer(STEP_TIMER),))

    def _retry_step(self, progress: Progress, retry: RetryStep) -> Reply:
        if progress.status != "running" or progress.step != retry.step:
            return Reply(reply={"outcome": "stale"})
        spec = self.steps[retry.step]
        if spec.kind == "sleep":  # a sleep's timer: the sleep is over
            if progress.attempt != retry.attempt:
                return Reply(reply={"outcome": "stale"})
            assert spec.then is not None
            return self._transition(progress, Goto(spec.then))
        if not progress.retrying or progress.attempt + 1 != retry.attempt:
            return Reply(reply={"outcome": "stale"})
        return self._enter(retry.step, retry.attempt, progress.state, [])

    def _pause(self, progress: Progress, command: PauseWorkflow) -> Reply:
        self._expect_step(progress, "pause", None)
        return Reply([self.Paused(reason=command.reason)], None, (CancelTimer(STEP_TIMER),))

    def _resume(self, progress: Progress, command: ResumeWorkflow) -> Reply:
        if progress.status != "paused":
            raise Rejection(
                f"workflow {self.name} is {progress.status or 'not started'}, not paused",
                status=progress.status,
                step=progress.step,
            )
        resumed = self.Resumed()
        if progress.retrying:  # it was waiting out a backoff: try again now
            return self._enter(progress.step or "", progress.attempt + 1, progress.state, [resumed])
        # The step again, same attempt: a call replays its command's stored reply if it ran.
        return self._enter(progress.step or "", progress.attempt, progress.state, [resumed])

    def _cancel(self, progress: Progress, command: CancelWorkflow) -> Reply:
        if progress.status not in RUNNING:
            raise Rejection(
                f"workflow {self.name} is {progress.status or 'not started'}: nothing to cancel",
                status=progress.status,
                step=progress.step,
            )
        reason = command.reason or "cancelled by an operator"
        ended = self.Ended(
            status="cancelled", step=progress.step, state=progress.state, reason=reason
        )
        return Reply([ended], None, (CancelTimer(STEP_TIMER),))

    @staticmethod
    def _at(progress: Progress, step: str, attempt: int) -> bool:
        return (
            progress.status == "running" and progress.step == step and progress.attempt == attempt
        )

    # -- applying ---------------------------------------------------------------------------
    def _started(self, progress: Progress, event: Any) -> Progress:
        same_step = event.step == progress.step
        return progress.model_copy(
            update={
                "status": "running",
                "step": event.step,
                "attempt": event.attempt,
                "deadline": event.deadline,
                "retrying": False,
                "error": progress.error if same_step else None,  # why it is tried again
                "state": event.state,
            }
        )

    def _state_changed(self, progress: Progress, event: Any) -> Progress:
        return progress.model_copy(update={"state": event.state})

    def _called(self, progress: Progress, event: Any) -> Progress:
        return progress.model_copy(update={"error": event.error if not event.accepted else None})

    def _failed(self, progress: Progress, event: Any) -> Progress:
        retrying = event.retry_at is not None
        return progress.model_copy(
            update={"error": event.error, "retrying": retrying, "deadline": event.retry_at}
        )

    def _paused(self, progress: Progress, event: Any) -> Progress:
        return progress.model_copy(update={"status": "paused", "paused_reason": event.reason})

    def _resumed(self, progress: Progress, event: Any) -> Progress:
        return progress.model_copy(update={"status": "running", "paused_reason": None})

    def _ended(self, progress: Progress, event: Any) -> Progress:
        error = event.reason if event.status == "failed" else progress.error
        return progress.model_copy(
            update={
                "status": event.status,
                "deadline": None,
                "retrying": False,
                "state": event.state,
                "error": error,
            }
        )
