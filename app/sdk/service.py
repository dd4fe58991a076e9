"""A service: the components Sluice turns into routes and workers."""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from app.sdk.entity import EventSourcedEntity


@dataclass
class Service:
    name: str
    entities: Iterable[EventSourcedEntity] = ()
    description: str = ""
    _entities: dict[str, EventSourcedEntity] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._entities = {}
        for entity in self.entities:
            if entity.name in self._entities:
                raise ValueError(f"service {self.name}: entity {entity.name!r} declared twice")
            self._entities[entity.name] = entity

    @property
    def entity_types(self) -> Mapping[str, EventSourcedEntity]:
        return self._entities


def load_service(path: str) -> Service:
    """Import ``module:attribute`` (SLUICE_SERVICE)."""
    module_name, _, attribute = path.partition(":")
    if not module_name or not attribute:
        raise ValueError(f"SLUICE_SERVICE={path!r}: expected 'module:attribute'")
    service = getattr(importlib.import_module(module_name), attribute)
    if not isinstance(service, Service):
        raise TypeError(f"{path} is a {type(service).__name__}, not a sluice Service")
    return service
