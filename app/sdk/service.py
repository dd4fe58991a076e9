"""A service: the components Sluice turns into routes and workers."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from app.config import ConfigurationError
from app.sdk.action import Action
from app.sdk.entity import EventSourcedEntity
from app.sdk.events import Event
from app.sdk.streams import PublicEvent, Stream, Subscription
from app.sdk.view import View
from app.sdk.workflow import Workflow


@dataclass
class Service:
    name: str
    entities: Iterable[EventSourcedEntity] = ()
    views: Iterable[View] = ()
    actions: Iterable[Action] = ()
    description: str = ""
    streams: Iterable[Stream] = ()  # what other services may read of this one
    # The folder of the service's own migration history (its views' tables), if it keeps one:
    # `sluice migrations new "…"` writes there, `sluice migrate` runs it with Sluice's.
    migrations: Path | None = None
    # Durable multi-step processes; each is an entity type too (its commands, its state).
    workflows: Iterable[Workflow] = ()
    _entities: dict[str, EventSourcedEntity] = field(init=False, repr=False)
    _views: dict[str, View] = field(init=False, repr=False)
    _actions: dict[str, Action] = field(init=False, repr=False)
    _streams: dict[str, Stream] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.workflows = tuple(self.workflows)
        self._entities = _by_name("entity", self.name, (*self.entities, *self.workflows))
        for entity in self._entities.values():
            entity.check()
        self._views = _by_name("view", self.name, self.views)
        self._actions = _by_name("action", self.name, self.actions)
        clash = set(self._views) & set(self._actions)
        if clash:
            raise ValueError(f"service {self.name}: {sorted(clash)} is both a view and an action")
        for consumer in (*self._views.values(), *self._actions.values()):
            self._check_consumer(consumer)
        self._streams = {}
        for stream in self.streams:
            if stream.id in self._streams:
                raise ValueError(f"service {self.name}: stream {stream.id!r} declared twice")
            self._streams[stream.id] = stream
            for event_type in stream.handlers:
                if not self.owners_of(event_type):
                    raise ValueError(
                        f"service {self.name}: stream {stream.id} publishes from"
                        f" {event_type.__name__}, which no entity of the service emits"
                    )

    def _check_consumer(self, consumer: View | Action) -> None:
        """A consumer of this service's log handles events its entities emit; one whose
        source is another service's stream handles that stream's public events."""
        source: Subscription | None = consumer.source
        for event_type in consumer.handlers:
            if source is not None:
                source.knows(event_type)
            elif issubclass(event_type, PublicEvent):
                raise ValueError(
                    f"service {self.name}: {consumer.name} handles the public event"
                    f" {event_type.__name__}: give it the subscription as its source="
                )
            elif not self.owners_of(event_type):
                raise ValueError(
                    f"service {self.name}: {consumer.name} handles {event_type.__name__}, "
                    "which no entity of the service emits"
                )

    @property
    def entity_types(self) -> Mapping[str, EventSourcedEntity]:
        return self._entities

    @property
    def workflow_types(self) -> Mapping[str, Workflow]:
        return {workflow.name: workflow for workflow in self.workflows}

    @property
    def view_types(self) -> Mapping[str, View]:
        return self._views

    @property
    def action_types(self) -> Mapping[str, Action]:
        return self._actions

    @property
    def stream_types(self) -> Mapping[str, Stream]:
        return self._streams

    @property
    def subscriptions(self) -> list[Subscription]:
        """The other services' streams this one reads (each once, in declaration order)."""
        found: dict[int, Subscription] = {}
        for consumer in (*self._views.values(), *self._actions.values()):
            if consumer.source is not None:
                found.setdefault(id(consumer.source), consumer.source)
        return list(found.values())

    def owners_of(self, event_type: type[Event]) -> list[EventSourcedEntity]:
        """The entities that emit this event class (usually one)."""
        return [
            entity
            for entity in self._entities.values()
            if entity.event_types.get(event_type.event_type) is event_type
        ]

    def log_types(self, event_types: Iterable[type[Event]]) -> frozenset[str]:
        """The log's ``{entity_type}.{EventName}`` names of these event classes."""
        return frozenset(
            f"{entity.name}.{event_type.event_type}"
            for event_type in event_types
            for entity in self.owners_of(event_type)
        )


def _by_name(kind: str, service: str, components: Iterable) -> dict:
    named: dict = {}
    for component in components:
        if component.name in named:
            raise ValueError(f"service {service}: {kind} {component.name!r} declared twice")
        named[component.name] = component
    return named


def load_service(path: str) -> Service:
    """Import ``module:attribute`` (SLUICE_SERVICE). The current directory is importable, as
    ``python -m`` makes it, so a service in ``./mybank.py`` is ``mybank:service``. A name that
    finds nothing is a ConfigurationError with one clear line; an error inside the service's
    own code is its own (with its traceback)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ConfigurationError(f"SLUICE_SERVICE={path!r}: expected 'module:attribute'")
    here = os.getcwd()
    if here not in sys.path:
        sys.path.insert(0, here)
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name is None or not _names_part_of(error.name, module_name):
            raise  # the service's module imports something missing: its own error
        raise ConfigurationError(
            f"SLUICE_SERVICE={path}: no module {module_name!r} in {here} or the installed packages"
        ) from None
    service = getattr(module, attribute, None)
    if service is None:
        raise ConfigurationError(f"SLUICE_SERVICE={path}: {module_name} has no {attribute!r}")
    if not isinstance(service, Service):
        raise ConfigurationError(
            f"SLUICE_SERVICE={path} is a {type(service).__name__}, not a sluice Service"
        )
    return service


def _names_part_of(missing: str, module_name: str) -> bool:
    """``a`` or ``a.b`` is missing while importing ``a.b.c``: the path itself is wrong."""
    return module_name == missing or module_name.startswith(missing + ".")
