"""A testkit for service authors: given events, when a command, then events/rejection/state.

No database: it runs the same ``decide`` and ``apply`` the platform runs, so a passing test here
means the entity behaves the same behind the HTTP API.

    kit = EntityTestKit(patient)
    result = kit.given(PatientAdmitted(...)).when("discharge", Discharge())
    result.expect_events(PatientDischarged())
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from app.sdk.entity import EventSourcedEntity
from app.sdk.events import Command, Event, Rejection
from app.sdk.timers import CancelTimer, Timer, TimerChange

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class TestedCommand(Generic[S]):
    state_before: S
    events: tuple[Event, ...]
    reply: dict[str, Any] | None
    rejection: Rejection | None
    state: S
    timers: tuple[TimerChange, ...] = ()

    def expect_events(self, *expected: Event) -> TestedCommand[S]:
        self._not_rejected()
        assert self.events == expected, f"expected events {expected!r}, got {self.events!r}"
        return self

    def expect_no_events(self) -> TestedCommand[S]:
        return self.expect_events()

    def expect_rejection(self, match: str = "") -> TestedCommand[S]:
        assert self.rejection is not None, f"expected a rejection, got events {self.events!r}"
        assert re.search(match, self.rejection.reason), (
            f"rejection {self.rejection.reason!r} does not match {match!r}"
        )
        return self

    def expect_state(self, expected: S | None = None, **fields: Any) -> TestedCommand[S]:
        if expected is not None:
            assert self.state == expected, f"expected state {expected!r}, got {self.state!r}"
        for name, value in fields.items():
            actual = getattr(self.state, name)
            assert actual == value, f"state.{name}: expected {value!r}, got {actual!r}"
        return self

    def expect_reply(self, **fields: Any) -> TestedCommand[S]:
        self._not_rejected()
        assert self.reply is not None, "expected a reply, got none"
        for name, value in fields.items():
            assert name in self.reply, f"reply has no {name!r}: {self.reply!r}"
            assert self.reply[name] == value, f"reply[{name!r}]: {self.reply[name]!r}"
        return self

    def expect_timers(
        self, scheduled: tuple[str, ...] = (), cancelled: tuple[str, ...] = ()
    ) -> TestedCommand[S]:
        """The keys of the timers the command scheduled and cancelled, in order."""
        self._not_rejected()
        found_scheduled = tuple(t.key for t in self.timers if isinstance(t, Timer))
        found_cancelled = tuple(t.key for t in self.timers if isinstance(t, CancelTimer))
        assert found_scheduled == scheduled, f"scheduled {found_scheduled}, not {scheduled}"
        assert found_cancelled == cancelled, f"cancelled {found_cancelled}, not {cancelled}"
        return self

    def _not_rejected(self) -> None:
        assert self.rejection is None, f"command was rejected: {self.rejection}"


class EntityTestKit(Generic[S]):
    def __init__(self, entity: EventSourcedEntity[S], history: tuple[Event, ...] = ()) -> None:
        self.entity = entity
        self.history = history

    def given(self, *events: Event) -> EntityTestKit[S]:
        return EntityTestKit(self.entity, self.history + events)

    @property
    def state(self) -> S:
        return self.entity.fold(self.history)

    def when(self, command_name: str, command: Command | dict[str, Any]) -> TestedCommand[S]:
        spec = self.entity.commands[command_name]
        model = spec.model.model_validate(command) if isinstance(command, dict) else command
        before = self.state
        try:
            decision = self.entity.decide(before, command_name, model)
        except Rejection as rejection:
            return TestedCommand(before, (), None, rejection, before)
        after = self.entity.fold(decision.events, before)
        return TestedCommand(before, decision.events, decision.reply, None, after, decision.timers)
