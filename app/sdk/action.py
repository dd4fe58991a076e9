"""Action: a stateless handler turning events into commands for entities (or nothing).

    monitor = Action("vitals-monitor", start_from="beginning")

    @monitor.handles
    def on_vitals(event: VitalsRecorded, meta: EventMeta) -> Send | None:
        return Send("alert", meta.entity_id, "raise", RaiseAlert(...))

A handler returns a ``Send``, a ``Timer`` (for an explicit entity), a ``CancelTimer``, a list
of them, or None. The platform sends each command through the same path as HTTP, with the
idempotency key ``{action}:{event_id}`` (``#n`` appended for the n-th command of one event),
so an event handled twice — after a crash, or a rewound checkpoint — never acts twice.

Where a new action starts is the author's choice, said explicitly: ``"beginning"`` acts on
every event ever logged (a welcome bonus for accounts opened years ago, too), ``"now"`` only on
events logged after it first runs. It matters once, when the action is first deployed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from app.sdk.entity import annotation_of
from app.sdk.events import Event
from app.sdk.timers import CancelTimer, Send, Timer
from app.sdk.view import NAME, EventMeta, StartFrom, check_start

if TYPE_CHECKING:
    from app.sdk.streams import Subscription

ActionEffect = Send | Timer | CancelTimer
ActionHandler = Callable[[Any, EventMeta], ActionEffect | Sequence[ActionEffect] | None]


@dataclass(frozen=True)
class ActionRoute:
    event_type: type[Event]
    handler: ActionHandler


class Action:
    def __init__(
        self,
        name: str,
        *,
        start_from: StartFrom,
        description: str = "",
        source: Subscription | None = None,
    ) -> None:
        if not NAME.match(name):
            raise ValueError(f"action name {name!r}: lowercase letters, digits and '-'")
        self.name = name
        self.start_from = check_start(f"action {name}", start_from)
        self.source = source  # None: this service's log; else another service's stream
        self.description = description
        self.handlers: dict[type[Event], ActionRoute] = {}

    def handles(self, handler: ActionHandler) -> ActionHandler:
        """Register ``handler(event, meta)``; the event class comes from its hint."""
        event_type = annotation_of(handler, 0, Event)
        if event_type in self.handlers:
            raise ValueError(f"action {self.name}: two handlers for {event_type.__name__}")
        self.handlers[event_type] = ActionRoute(event_type, handler)
        return handler

    def effects(self, event: Event, meta: EventMeta) -> list[ActionEffect]:
        """What the handler asks for, normalised to a list (checked, so a bug surfaces here)."""
        outcome = self.handlers[type(event)].handler(event, meta)
        if outcome is None:
            return []
        effects = [outcome] if isinstance(outcome, Send | Timer | CancelTimer) else list(outcome)
        for effect in effects:
            if not isinstance(effect, Send | Timer | CancelTimer):
                raise TypeError(f"action {self.name}: handlers return Send/Timer, not {effect!r}")
            if isinstance(effect, Timer) and (effect.entity_type is None or not effect.entity_id):
                raise TypeError(f"action {self.name}: a Timer from an action names its entity")
        return effects
