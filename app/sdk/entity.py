"""EventSourcedEntity: a name, a state model, command handlers and event handlers.

Handlers are plain functions so a service author can unit-test them without a database
(see ``app.sdk.testing``). The platform owns loading, appending and concurrency.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Generic, TypeVar, get_args, get_type_hints

from pydantic import BaseModel

from app.sdk.events import Command, Event, Rejection
from app.sdk.timers import TimerChange

S = TypeVar("S", bound=BaseModel)
Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


@dataclass(frozen=True)
class Reply:
    """A decision that carries a reply for the caller and/or timers, with or without events."""

    events: Sequence[Event] = ()
    reply: Mapping[str, Any] | None = None
    timers: Sequence[TimerChange] = ()


@dataclass(frozen=True)
class Decision:
    """What a command handler decided, normalised."""

    events: tuple[Event, ...]
    reply: dict[str, Any] | None = None
    timers: tuple[TimerChange, ...] = ()


@dataclass(frozen=True)
class CommandSpec:
    name: str
    model: type[Command]
    handler: Callable[..., Any]
    summary: str = ""
    # Sent only by the platform (a timer, a workflow's runner): no HTTP route takes it.
    internal: bool = False


@dataclass
class _Registry:
    commands: dict[str, CommandSpec] = field(default_factory=dict)
    event_types: dict[str, type[Event]] = field(default_factory=dict)
    appliers: dict[type[Event], Callable[[Any, Any], Any]] = field(default_factory=dict)
    upcasters: dict[tuple[str, int], Upcaster] = field(default_factory=dict)


class EventSourcedEntity(Generic[S]):
    """Declare an entity type; register handlers with the decorators below."""

    # A snapshot every this many versions (None: the service's SLUICE_SNAPSHOT_EVERY). The
    # component kinds built on entities (key-value entities, workflows) take one per write,
    # so loading one is reading one row.
    snapshot_every: int | None = None
    # Every event carries the whole state (a key-value entity's): loading reads the last one.
    state_in_every_event = False

    def __init__(self, name: str, *, state: type[S], description: str = "") -> None:
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"entity name {name!r}: letters, digits, '-' and '_' only")
        self.name = name
        self.state_type = state
        self.description = description
        self._registry = _Registry()

    # -- declaring -------------------------------------------------------------------------
    def command(self, name: str, *, summary: str = "") -> Callable[[Callable[..., Any]], Any]:
        """Register ``handler(state, command) -> Event | [Event] | Reply`` under ``name``."""

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            model = annotation_of(handler, 1, Command)
            doc = summary or (inspect.getdoc(handler) or "").split("\n")[0]
            self.add_command(CommandSpec(name, model, handler, doc))
            return handler

        return register

    def add_command(self, spec: CommandSpec) -> None:
        if spec.name in self._registry.commands:
            raise ValueError(f"{self.name}: command {spec.name!r} declared twice")
        self._registry.commands[spec.name] = spec

    def applies(self, handler: Callable[[S, Any], S]) -> Callable[[S, Any], S]:
        """Register ``handler(state, event) -> state``; the event class comes from its hint."""
        event_type = annotation_of(handler, 1, Event)
        self.register_event(event_type)
        self._registry.appliers[event_type] = handler
        return handler

    def register_event(self, event_type: type[Event]) -> None:
        known = self._registry.event_types.get(event_type.event_type)
        if known is not None and known is not event_type:
            raise ValueError(f"{self.name}: two events named {event_type.event_type!r}")
        self._registry.event_types[event_type.event_type] = event_type

    def upcaster(self, event_type: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning stored data of ``from_version`` into ``from_version+1``."""

        def register(fn: Upcaster) -> Upcaster:
            self._registry.upcasters[(event_type, from_version)] = fn
            return fn

        return register

    def check(self) -> None:
        """Every event a command handler says it returns (its return annotation) has an event
        handler: found when the service is declared, not when the command first runs."""
        unhandled = sorted(
            event_type.__name__
            for spec in self._registry.commands.values()
            for event_type in returned_events(spec.handler)
            if event_type not in self._registry.appliers
        )
        if unhandled:
            raise ValueError(
                f"{self.name}: no event handler (@{self.name}.applies) for {', '.join(unhandled)}"
            )

    # -- reading the declaration ------------------------------------------------------------
    @property
    def commands(self) -> Mapping[str, CommandSpec]:
        return self._registry.commands

    @property
    def event_types(self) -> Mapping[str, type[Event]]:
        return self._registry.event_types

    @property
    def public_commands(self) -> list[CommandSpec]:
        """The commands HTTP takes (the internal ones are the platform's own)."""
        return [spec for spec in self._registry.commands.values() if not spec.internal]

    @property
    def public_state_type(self) -> type[BaseModel]:
        """The model ``GET /entities/{type}/{id}`` answers with."""
        return self.state_type

    def public_state(self, state: S) -> BaseModel | None:
        """What ``GET`` shows of a loaded state; None: nothing there (404)."""
        return state

    def restored(self, state: S, version: int) -> S:
        """The state folded from the last event alone, told the version it is at."""
        return state

    def initial_state(self) -> S:
        return self.state_type()

    @cached_property
    def state_schema(self) -> str:
        """Fingerprint of the state model: a snapshot taken under another shape is ignored."""
        schema = json.dumps(self.state_type.model_json_schema(), sort_keys=True)
        return hashlib.sha256(schema.encode()).hexdigest()[:16]

    # -- behaviour ------------------------------------------------------------------------
    def apply(self, state: S, event: Event) -> S:
        applier = self._registry.appliers.get(type(event))
        if applier is None:
            raise LookupError(f"{self.name}: no event handler for {type(event).__name__}")
        return applier(state, event)

    def fold(self, events: Sequence[Event], state: S | None = None) -> S:
        current = self.initial_state() if state is None else state
        for event in events:
            current = self.apply(current, event)
        return current

    def decide(self, state: S, command_name: str, command: Command) -> Decision:
        """Run a command handler. Raises Rejection; any other exception is a bug to surface."""
        spec = self._registry.commands[command_name]
        outcome = spec.handler(state, command)
        return _normalise(self.name, outcome)

    def event_from_stored(self, type_name: str, schema_version: int, data: Any) -> Event:
        """Rebuild a stored event as the current model, upcasting old schema versions."""
        event_type = self._registry.event_types.get(type_name)
        if event_type is None:
            raise LookupError(f"{self.name}: unknown stored event type {type_name!r}")
        version = schema_version
        if version > event_type.schema_version:
            # Written by newer code: reading it as the older model would silently drop fields.
            raise LookupError(
                f"{self.name}: stored {type_name} v{version} is newer than this code's "
                f"v{event_type.schema_version}"
            )
        while version < event_type.schema_version:
            upcast = self._registry.upcasters.get((type_name, version))
            if upcast is None:
                raise LookupError(f"{self.name}: no upcaster for {type_name} v{version}")
            data = upcast(dict(data))
            version += 1
        return event_type.model_validate(data)


def _normalise(entity: str, outcome: Any) -> Decision:
    timers: tuple[TimerChange, ...] = ()
    if isinstance(outcome, Reply):
        events, reply, timers = tuple(outcome.events), outcome.reply, tuple(outcome.timers)
    elif isinstance(outcome, Event):
        events, reply = (outcome,), None
    elif isinstance(outcome, Sequence) and not isinstance(outcome, str | bytes):
        events, reply = tuple(outcome), None
    else:
        raise TypeError(f"{entity}: a command handler returns events or Reply, not {outcome!r}")
    if not all(isinstance(event, Event) for event in events):
        raise TypeError(f"{entity}: a command handler returned something that is not an Event")
    return Decision(events, dict(reply) if reply is not None else None, timers)


def camel(name: str) -> str:
    """``callout-flow`` -> ``CalloutFlow``: the prefix of the model classes made for a name."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", name))


def annotation_of(fn: Callable[..., Any], index: int, base: type) -> Any:
    params = list(inspect.signature(fn).parameters)
    if len(params) <= index:
        raise TypeError(f"{fn.__name__} takes (state, {base.__name__.lower()})")
    hint = get_type_hints(fn).get(params[index])
    if not (isinstance(hint, type) and issubclass(hint, base)):
        raise TypeError(
            f"{fn.__name__}: annotate parameter {params[index]!r} with a {base.__name__}"
        )
    return hint


__all__ = ["Decision", "EventSourcedEntity", "Rejection", "Reply"]


def returned_events(handler: Callable[..., Any]) -> set[type[Event]]:
    """The Event classes named in a handler's return annotation (``A | B``, ``list[A]``,
    ``Reply | A``); none when it has no annotation."""
    try:
        returned = get_type_hints(handler).get("return")
    except Exception:  # an annotation that does not resolve: nothing to check
        return set()
    found: set[type[Event]] = set()
    pending = [returned]
    while pending:
        hint = pending.pop()
        if isinstance(hint, type) and issubclass(hint, Event):
            found.add(hint)
        pending.extend(get_args(hint))
    return found
