"""A service: the components Sluice turns into routes and workers."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.sdk.action import Action
from app.sdk.entity import EventSourcedEntity
from app.sdk.events import Event
from app.sdk.view import View


@dataclass
class Service:
    name: str
    entities: Iterable[EventSourcedEntity] = ()
    views: Iterable[View] = ()
    actions: Iterable[Action] = ()
    description: str = ""
    _entities: dict[str, EventSourcedEntity] = field(init=False, repr=False)
    _views: dict[str, View] = field(init=False, repr=False)
    _actions: dict[str, Action] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._entities = _by_name("entity", self.name, self.entities)
        self._views = _by_name("view", self.name, self.views)
        self._actions = _by_name("action", self.name, self.actions)
        clash = set(self._views) & set(self._actions)
        if clash:
            raise ValueError(f"service {self.name}: {sorted(clash)} is both a view and an action")
        for consumer in (*self._views.values(), *self._actions.values()):
            for event_type in consumer.handlers:
                if not self.owners_of(event_type):
                    raise ValueError(
                        f"service {self.name}: {consumer.name} handles {event_type.__name__}, "
                        "which no entity of the service emits"
                    )

    @property
    def entity_types(self) -> Mapping[str, EventSourcedEntity]:
        return self._entities

    @property
    def view_types(self) -> Mapping[str, View]:
        return self._views

    @property
    def action_types(self) -> Mapping[str, Action]:
        return self._actions

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
    """Import ``module:attribute`` (SLUICE_SERVICE)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"SLUICE_SERVICE={path!r}: expected 'module:attribute'")
    service = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(service, Service):
        raise TypeError(f"{path} is a {type(service).__name__}, not a sluice Service")
    return service
