"""Services that talk through events: public streams out, subscriptions in.

A service's own events are private: they may change whenever the service does. What it offers
other services is a **stream** of **public events**, each a model with its own stable type
name and schema version, made from chosen internal events by a stateless, deterministic
function (``None``: not published):

    alerts = Stream("alerts", description="The ward's alerts, as the outreach team needs them")

    @alerts.publishes
    def raised(event: AlertRaised, meta: EventMeta) -> PublicAlertRaised | None:
        return PublicAlertRaised(ward=event.ward, risk=event.risk, score=event.score)

A consuming service keeps its **own copy** of the public models it reads and names where they
come from; its views and actions take the subscription as their source:

    ward_alerts = Subscription("ward-alerts", service="ward", stream="alerts")
    callouts = Action("callouts", source=ward_alerts, start_from="beginning")

    @callouts.handles
    def on_raised(event: AlertRaised, meta: EventMeta) -> Send | None: ...

Public events are matched by type name and schema version: a field the producer adds is
passed over by a reader that does not know it; an older version is upcast by the reader's
upcasters; a type (or version) the reader cannot read pins the consumer on that event, or is
passed over with ``ignore_unknown=True``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from app.sdk.entity import annotation_of, returned_events
from app.sdk.events import Event
from app.sdk.view import NAME, EventMeta

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]
Publisher = Callable[[Any, EventMeta], Any]


class PublicEvent(Event):
    """An event type other services may read: ``class AlertRaised(PublicEvent,
    type_name="ward.AlertRaised", schema_version=1)``. Its type name and fields are a
    contract with every reader: add optional fields freely; anything else is a new
    ``schema_version`` (readers upcast) or a new type."""


class UnknownPublicEvent(LookupError):
    """A public event this reader has no model (or no upcaster) for."""


@dataclass(frozen=True)
class Publication:
    source: type[Event]  # the internal event it reads
    handler: Publisher
    publishes: frozenset[type[PublicEvent]]


class Stream:
    """A public stream: what other services may read of this one."""

    def __init__(self, stream_id: str, *, description: str = "", topic: str | None = None) -> None:
        """``topic``: also publish the stream to this Kafka topic (SLUICE_KAFKA_PUBLISH
        overrides it; nothing is sent while SLUICE_KAFKA_BOOTSTRAP_SERVERS is unset)."""
        if not NAME.match(stream_id):
            raise ValueError(f"stream id {stream_id!r}: lowercase letters, digits and '-'")
        self.id = stream_id
        self.description = description
        self.topic = topic
        self.handlers: dict[type[Event], Publication] = {}
        self.public_types: dict[str, type[PublicEvent]] = {}

    def publishes(self, handler: Publisher) -> Publisher:
        """Register ``handler(event, meta) -> PublicEvent | None`` for the internal event in
        its first hint; the public types it may return come from its return hint."""
        source = annotation_of(handler, 0, Event)
        if issubclass(source, PublicEvent):
            raise TypeError(f"stream {self.id}: a publisher reads the service's own events")
        if source in self.handlers:
            raise ValueError(f"stream {self.id}: two publishers for {source.__name__}")
        public = frozenset(t for t in returned_events(handler) if issubclass(t, PublicEvent))
        if not public:
            raise TypeError(
                f"stream {self.id}: {handler.__name__} must say what it publishes in its return"
                " hint, e.g. -> PublicAlertRaised | None"
            )
        for public_type in public:
            self._add_type(public_type)
        self.handlers[source] = Publication(source, handler, public)
        return handler

    def _add_type(self, public_type: type[PublicEvent]) -> None:
        known = self.public_types.get(public_type.event_type)
        if known is not None and known is not public_type:
            raise ValueError(f"stream {self.id}: two public types named {public_type.event_type}")
        self.public_types[public_type.event_type] = public_type

    def publish(self, event: Event, meta: EventMeta) -> PublicEvent | None:
        """The public event for ``event``, or None; a publisher returning anything it did
        not declare is a bug, raised here rather than sent."""
        publication = self.handlers[type(event)]
        public = publication.handler(event, meta)
        if public is not None and type(public) not in publication.publishes:
            raise TypeError(
                f"stream {self.id}: {publication.handler.__name__} returned"
                f" {type(public).__name__}, which its return hint does not name"
            )
        return public


@dataclass(eq=False)
class Subscription:
    """Another service's public stream, read by this service's views and actions.

    Where the producer is and the key to read it with come from settings
    (``SLUICE_UPSTREAM_<SERVICE>_URL`` and ``_KEY``); each view or action that takes it as
    its source keeps its own cursor in this service's database.
    """

    name: str
    service: str
    stream: str
    events: Iterable[type[PublicEvent]] = ()
    ignore_unknown: bool = False
    _types: dict[str, type[PublicEvent]] = field(init=False, repr=False)
    _upcasters: dict[tuple[str, int], Upcaster] = field(init=False, repr=False)
    _fields: dict[str, frozenset[str]] = field(init=False, repr=False)  # each model's, read once

    def __post_init__(self) -> None:
        for what, value in (("name", self.name), ("service", self.service)):
            if not NAME.match(value):
                raise ValueError(f"subscription {value!r}: its {what} is lowercase and '-'")
        if not NAME.match(self.stream):
            raise ValueError(f"subscription {self.name}: stream id {self.stream!r}")
        self._types, self._upcasters, self._fields = {}, {}, {}
        for event_type in self.events:
            self.knows(event_type)

    def knows(self, event_type: type[Event]) -> None:
        """Read ``event_type`` from the stream (a handler's type is known without asking)."""
        if not issubclass(event_type, PublicEvent):
            raise TypeError(
                f"subscription {self.name}: {event_type.__name__} is not a PublicEvent (its"
                " handlers read this service's copy of the producer's public models)"
            )
        known = self._types.get(event_type.event_type)
        if known is not None and known is not event_type:
            raise ValueError(f"subscription {self.name}: two models for {event_type.event_type!r}")
        self._types[event_type.event_type] = event_type
        self._fields[event_type.event_type] = frozenset(event_type.model_fields)

    @property
    def types(self) -> Mapping[str, type[PublicEvent]]:
        return self._types

    @property
    def upstream(self) -> str:
        return f"{self.service}/{self.stream}"

    def upcaster(self, type_name: str, *, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function turning ``type_name`` data of ``from_version`` into the next."""

        def register(fn: Upcaster) -> Upcaster:
            self._upcasters[(type_name, from_version)] = fn
            return fn

        return register

    def read(self, type_name: str, schema_version: int, data: Mapping[str, Any]) -> PublicEvent:
        """The public event as this service's model: upcast, fields it does not know passed
        over. Raises UnknownPublicEvent for a type or version it cannot read."""
        model = self._types.get(type_name)
        if model is None:
            raise UnknownPublicEvent(f"{self.upstream}: unknown public type {type_name!r}")
        if schema_version > model.schema_version:
            raise UnknownPublicEvent(
                f"{self.upstream}: {type_name} v{schema_version} is newer than this"
                f" service's v{model.schema_version}"
            )
        if not isinstance(data, Mapping):
            raise TypeError(f"{self.upstream}: {type_name} data is not a JSON object")
        version, fields = schema_version, data  # an upcaster gets a copy: it may change it
        while version < model.schema_version:
            upcast = self._upcasters.get((type_name, version))
            if upcast is None:
                raise UnknownPublicEvent(f"{self.upstream}: no upcaster for {type_name} v{version}")
            fields, version = upcast(dict(fields)), version + 1
        names = self._fields[type_name]
        return model.model_validate({k: v for k, v in fields.items() if k in names})
