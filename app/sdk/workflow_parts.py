"""A workflow's parts: what its handlers return, its steps, its own commands, and its progress
(the state it holds underneath, and the events that record it). The behaviour is in
``app.sdk.workflow``."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, create_model

from app.sdk.events import Command, Event
from app.sdk.timers import Send

S = TypeVar("S", bound=BaseModel)

STEP_TIMER = "step"  # one live timer per workflow: its step's deadline, or a retry's time
RUNNING = ("running", "paused")
Status = Literal["running", "paused", "completed", "failed", "cancelled"]
StepKind = Literal["call", "wait", "sleep"]
Timeout = timedelta | Callable[[Any], timedelta] | None
STEP_NAME = re.compile(r"^[a-z][a-z0-9-]{0,62}$")


# -- what handlers return ---------------------------------------------------------------------
@dataclass(frozen=True)
class Goto(Generic[S]):
    """Go to ``step`` (the state replaced when given)."""

    step: str
    state: S | None = None
    reply: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Stay(Generic[S]):
    """Stay in the current step (the state replaced when given): a command that changes the
    state but does not end the wait."""

    state: S | None = None
    reply: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class End(Generic[S]):
    """The workflow is done (``completed``)."""

    state: S | None = None
    reason: str = ""
    reply: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Fail(Generic[S]):
    """The workflow ends as ``failed``."""

    reason: str
    state: S | None = None
    reply: Mapping[str, Any] | None = None


Transition = Goto[Any] | Stay[Any] | End[Any] | Fail[Any]


@dataclass(frozen=True)
class StepSpec:
    name: str
    kind: StepKind
    send: Callable[[Any], Send] | None = None  # call: the command to send
    then: str | None = None  # call, sleep: the next step
    timeout: Timeout = None
    max_retries: int = 0
    backoff: timedelta = timedelta(seconds=1)
    failover: str | None = None

    def time_allowed(self, state: Any) -> timedelta | None:
        """The step's timeout for this state: fixed, or decided when the step starts (a
        setting read then, or a time the state carries)."""
        allowed = self.timeout(state) if callable(self.timeout) else self.timeout
        if allowed is not None and allowed <= timedelta(0):
            raise ValueError(f"step {self.name}: a timeout of {allowed} (must be positive)")
        return allowed

    def retry_delay(self, attempt: int) -> timedelta:
        """Doubling from ``backoff`` (attempt 2 waits backoff, 3 twice it, ...), at most 64x."""
        return self.backoff * min(64, 2 ** max(0, attempt - 2))


# -- the platform's own commands (internal: no HTTP route takes them) ---------------------------
class StepResult(Command):
    step: str
    attempt: int
    accepted: bool
    reply: dict[str, Any] | None = None
    error: str | None = None
    sent: str = ""  # what was sent: "{entity_type}/{entity_id}:{command}"


class StepTimeout(Command):
    step: str
    attempt: int


class RetryStep(Command):
    step: str
    attempt: int  # the attempt to start


class PauseWorkflow(Command):
    reason: str = Field(default="", max_length=500)


class ResumeWorkflow(Command):
    pass


class CancelWorkflow(Command):
    reason: str = Field(default="", max_length=500)


OPERATOR_COMMANDS = {"pause": PauseWorkflow, "resume": ResumeWorkflow, "cancel": CancelWorkflow}


class Progress(BaseModel):
    """What a workflow holds underneath, and what ``GET`` shows of it."""

    kind: Literal["workflow"] = "workflow"  # marks workflows among the snapshots
    status: Status | None = None
    step: str | None = None
    attempt: int = 0
    deadline: datetime | None = None  # the step's timeout, or when it is tried again
    retrying: bool = False  # waiting out a backoff before the next attempt
    error: str | None = None  # the last failure, kept until the workflow moves on
    paused_reason: str | None = None
    state: Any = None


def progress_events(state: type[BaseModel]) -> dict[str, tuple[str, dict[str, Any]]]:
    """A workflow's events: their docs and fields (``state`` is its author's model)."""
    return {
        "StepStarted": (
            "The workflow entered a step (or tried it again): its state going in.",
            {
                "step": (str, ...),
                "attempt": (int, ...),
                "state": (state, ...),
                "deadline": (datetime | None, None),
            },
        ),
        "StepCalled": (
            "A call step's command was accepted (its reply) or refused (the reason).",
            {
                "step": (str, ...),
                "attempt": (int, ...),
                "sent": (str, ""),
                "accepted": (bool, ...),
                "reply": (dict[str, Any] | None, None),
                "error": (str | None, None),
            },
        ),
        "StepFailed": (
            "A step failed (refused, timed out): tried again at retry_at, or failed over.",
            {
                "step": (str, ...),
                "attempt": (int, ...),
                "error": (str, ...),
                "retry_at": (datetime | None, None),
            },
        ),
        "StateChanged": (
            "A command changed the workflow's state without leaving its step.",
            {"state": (state, ...)},
        ),
        "Paused": ("An operator paused the workflow.", {"reason": (str, "")}),
        "Resumed": ("An operator resumed the workflow.", {}),
        "Ended": (
            "The workflow ended: completed, failed or cancelled.",
            {
                "status": (Literal["completed", "failed", "cancelled"], ...),
                "step": (str | None, None),
                "state": (state | None, None),
                "reason": (str, ""),
            },
        ),
    }


def progress_event(prefix: str, type_name: str, doc: str, fields: dict[str, Any]) -> type[Event]:
    model: type[Event] = create_model(  # type: ignore[call-overload]
        f"{prefix}{type_name}",
        __base__=Event,
        __cls_kwargs__={"type_name": type_name},
        __doc__=doc,
        **fields,
    )
    return model
