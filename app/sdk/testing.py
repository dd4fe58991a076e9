"""Testkits for service authors: each component run as the platform runs it, in memory.

No database: they run the same ``decide``/``apply`` (entities), the same fold (views) and the
same handlers (actions) the platform runs, so a passing test here means the component behaves
the same behind the HTTP API. For a whole service against a real database, see the pytest
plugin (``app.testing.plugin``). Key-value entities and workflows have theirs too
(``KeyValueTestKit``, ``WorkflowTestKit``), importable from here.

    kit = EntityTestKit(patient)
    result = kit.given(PatientAdmitted(...)).when("discharge", Discharge())
    result.expect_events(PatientDischarged())
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel
from sqlmodel import SQLModel

from app.sdk.action import Action, ActionEffect
from app.sdk.component_kits import KeyValueTestKit as KeyValueTestKit
from app.sdk.component_kits import WorkflowTestKit as WorkflowTestKit
from app.sdk.entity import EventSourcedEntity
from app.sdk.events import Command, Event, Rejection
from app.sdk.timers import CancelTimer, Send, Timer, TimerChange
from app.sdk.view import EventMeta, View

S = TypeVar("S", bound=BaseModel)
R = TypeVar("R", bound=SQLModel)


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
            assert self.reply[name] == value, (
                f"reply[{name!r}]: expected {value!r}, got {self.reply[name]!r}"
            )
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
        spec = self.entity.commands.get(command_name)
        if spec is None:
            known = ", ".join(sorted(self.entity.commands)) or "none"
            raise LookupError(
                f"{self.entity.name} has no command {command_name!r} (it has: {known})"
            )
        model = spec.model.model_validate(command) if isinstance(command, dict) else command
        before = self.state
        try:
            decision = self.entity.decide(before, command_name, model)
        except Rejection as rejection:
            return TestedCommand(before, (), None, rejection, before)
        after = self.entity.fold(decision.events, before)
        return TestedCommand(before, decision.events, decision.reply, None, after, decision.timers)


def _meta(seq: int, entity_type: str, entity_id: str, version: int) -> EventMeta:
    return EventMeta(
        seq=seq,
        event_id=uuid.uuid4(),
        entity_type=entity_type,
        entity_id=entity_id,
        version=version,
        recorded_at=datetime.now(UTC),
    )


class ViewTestKit(Generic[R]):
    """Events in, rows out: a view's handlers folded in memory, as the projector folds them.

    kit = ViewTestKit(balances).given("a1", AccountOpened(owner="Grace"), Deposited(5))
    assert kit.row("a1").balance == 5
    assert [r.account_id for r in kit.query(owner="Grace")] == ["a1"]
    """

    def __init__(self, view: View[R], entity_type: str = "entity") -> None:
        self.view = view
        self.entity_type = entity_type
        self.rows: dict[str, R] = {}
        self._seq = 0
        self._versions: dict[str, int] = {}

    def given(
        self, entity_id: str, *events: Event, entity_type: str | None = None
    ) -> ViewTestKit[R]:
        """Fold ``events`` of one entity (in order) into the rows; chainable."""
        for event in events:
            handler = self.view.handlers.get(type(event))
            if handler is None:
                known = ", ".join(sorted(t.__name__ for t in self.view.handlers)) or "none"
                raise LookupError(
                    f"view {self.view.name} handles no {type(event).__name__} (it handles: {known})"
                )
            self._seq += 1
            version = self._versions[entity_id] = self._versions.get(entity_id, 0) + 1
            meta = _meta(self._seq, entity_type or self.entity_type, entity_id, version)
            key = str(handler.key(event, meta))
            row = handler.handler(self.rows.get(key), event, meta)
            if row is None:
                self.rows.pop(key, None)
            else:
                self.rows[key] = row
        return self

    def row(self, key: str) -> R | None:
        return self.rows.get(key)

    def query(self, *, sort: str | None = None, **filters: Any) -> list[R]:
        """Rows whose declared filter columns equal ``filters``, ordered by a declared sort
        column (``-column`` for descending): what ``GET /views/{view}`` would answer."""
        unknown = sorted(set(filters) - set(self.view.filters))
        if unknown:
            raise LookupError(
                f"view {self.view.name} filters on {self.view.filters}, not {unknown}"
            )
        found = [
            row
            for row in self.rows.values()
            if all(getattr(row, name) == value for name, value in filters.items())
        ]
        if sort is not None:
            column = sort.removeprefix("-")
            if column not in self.view.sort:
                raise LookupError(f"view {self.view.name} sorts by {self.view.sort}, not {column}")
            found.sort(key=lambda row: getattr(row, column), reverse=sort.startswith("-"))
        return found


@dataclass(frozen=True)
class TestedEvent:
    """What an action did with one event: the commands it sent, the timers it set or cancelled."""

    effects: tuple[ActionEffect, ...]

    @property
    def sends(self) -> tuple[Send, ...]:
        return tuple(effect for effect in self.effects if isinstance(effect, Send))

    @property
    def timers(self) -> tuple[Timer | CancelTimer, ...]:
        return tuple(e for e in self.effects if isinstance(e, Timer | CancelTimer))

    def expect_sends(self, *expected: Send) -> TestedEvent:
        assert self.sends == expected, f"expected sends {expected!r}, got {self.sends!r}"
        return self

    def expect_nothing(self) -> TestedEvent:
        assert self.effects == (), f"expected no effect, got {self.effects!r}"
        return self

    def expect_timers(self, *expected: Timer | CancelTimer) -> TestedEvent:
        assert self.timers == expected, f"expected timers {expected!r}, got {self.timers!r}"
        return self


class ActionTestKit:
    """One event in, its effects out: the commands (and timers) an action would send.

    ActionTestKit(welcome).when("a1", AccountOpened(owner="Grace")).expect_sends(
        Send("account", "a1", "deposit", Deposit(amount=5))
    )
    """

    def __init__(self, action: Action, entity_type: str = "entity") -> None:
        self.action = action
        self.entity_type = entity_type
        self._seq = 0

    def when(self, entity_id: str, event: Event, *, version: int = 1) -> TestedEvent:
        if type(event) not in self.action.handlers:
            known = ", ".join(sorted(t.__name__ for t in self.action.handlers)) or "none"
            raise LookupError(
                f"action {self.action.name} handles no {type(event).__name__} (it handles: {known})"
            )
        self._seq += 1
        meta = _meta(self._seq, self.entity_type, entity_id, version)
        return TestedEvent(tuple(self.action.effects(event, meta)))
