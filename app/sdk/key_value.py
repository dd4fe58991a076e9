"""KeyValueEntity: state without an event history, for data where only the latest value matters.

    roster = KeyValueEntity("roster", state=Roster)

    @roster.command("set")
    def set_roster(current: Roster | None, command: SetRoster) -> Roster:
        return Roster(responders=command.responders)

A command handler gets the current value (None when the key holds nothing) and returns the
new value, ``Delete()``, or ``Update(value, reply=...)`` / ``Delete(reply=...)`` to answer
the caller too; raising ``Rejection`` refuses the command (409). Returning the current value
unchanged writes nothing.

It is an entity underneath, on the same command path: ``POST /entities/{type}/{id}/{command}``
with ``If-Match`` (optimistic concurrency by version) and ``Idempotency-Key``, and ``GET
/entities/{type}/{id}`` reads the value (404 when deleted or never written). Each change is
logged as ``{name}.StateChanged`` (the whole new value) or ``{name}.Deleted``, so loading
one reads one row, its latest change, never a history to fold or a snapshot to write. And so
views, actions, webhooks, public streams and WebSockets consume a key-value entity like any
other: ``roster.StateChanged`` and ``roster.Deleted`` are the classes to handle.

``expire_after``: a value not written for that long is deleted (``Deleted(reason="expired")``)
by a timer that every write moves, in the same transaction as the write.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, Field, create_model

from app.sdk.entity import CommandSpec, EventSourcedEntity, Reply, annotation_of, camel
from app.sdk.events import Command, Event
from app.sdk.timers import CancelTimer, Timer

S = TypeVar("S", bound=BaseModel)

EXPIRY_TIMER = "expire"
EXPIRE_COMMAND = "expire"


@dataclass(frozen=True)
class Update(Generic[S]):
    """The new value, with a reply for the caller."""

    value: S
    reply: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Delete:
    """Remove the value (the next GET answers 404; the next command gets None)."""

    reply: Mapping[str, Any] | None = None


class Expire(Command):
    """The expiry timer's command: deletes the value only if no write came after it was set."""

    writes: int = Field(ge=1)


class Stored(BaseModel):
    """What the entity holds underneath: the value and how many writes made it."""

    value: Any = None
    writes: int = 0


class KeyValueEntity(EventSourcedEntity[Stored]):
    # Each change event carries the whole value: loading reads the latest one, no snapshot.
    state_in_every_event = True
    snapshot_every = 0

    def __init__(
        self,
        name: str,
        *,
        state: type[S],
        description: str = "",
        expire_after: timedelta | None = None,
    ) -> None:
        if expire_after is not None and expire_after <= timedelta(0):
            raise ValueError(f"key-value entity {name}: expire_after must be positive")
        stored = create_model(
            f"{camel(name)}Stored",
            __base__=Stored,
            value=(state | None, None),  # type: ignore[valid-type]
        )
        super().__init__(name, state=stored, description=description)
        self.value_type = state
        self.expire_after = expire_after
        prefix = camel(name)
        self.StateChanged: type[Event] = create_model(
            f"{prefix}StateChanged",
            __base__=Event,
            __cls_kwargs__={"type_name": "StateChanged"},
            __doc__=f"The new value of a {name}.",
            state=(state, ...),
        )
        self.Deleted: type[Event] = create_model(
            f"{prefix}Deleted",
            __base__=Event,
            __cls_kwargs__={"type_name": "Deleted"},
            __doc__=f"A {name}'s value was removed (deleted by a command, or expired).",
            reason=(Literal["deleted", "expired"], "deleted"),
        )
        self.register_event(self.StateChanged)
        self.register_event(self.Deleted)
        self._registry.appliers[self.StateChanged] = self._changed
        self._registry.appliers[self.Deleted] = self._deleted
        if expire_after is not None:
            self.add_command(CommandSpec(EXPIRE_COMMAND, Expire, self._expire, internal=True))

    # -- declaring -------------------------------------------------------------------------
    def command(self, name: str, *, summary: str = "") -> Callable[[Callable[..., Any]], Any]:
        """Register ``handler(current, command) -> value | Update | Delete`` under ``name``."""

        def register(handler: Callable[..., Any]) -> Callable[..., Any]:
            model = annotation_of(handler, 1, Command)
            doc = summary or (handler.__doc__ or "").strip().split("\n")[0]

            def decide(stored: Stored, command: Command) -> Reply:
                return self._decided(stored, handler(stored.value, command))

            decide.__doc__ = handler.__doc__
            self.add_command(CommandSpec(name, model, decide, doc))
            return handler

        return register

    def applies(self, handler: Any) -> Any:
        raise TypeError(
            f"key-value entity {self.name}: no event handlers; commands return the new value"
        )

    # -- reading the declaration ------------------------------------------------------------
    @property
    def public_state_type(self) -> type[BaseModel]:
        return self.value_type

    def public_state(self, state: Stored) -> BaseModel | None:
        return state.value

    def value_of(self, state: Stored) -> Any:
        return state.value

    def restored(self, state: Stored, version: int) -> Stored:
        return state.model_copy(update={"writes": version})

    # -- behaviour ------------------------------------------------------------------------
    def _decided(self, stored: Stored, outcome: Any) -> Reply:
        if isinstance(outcome, Delete):
            if stored.value is None:
                return Reply(reply=_reply(outcome.reply))
            timers = (CancelTimer(EXPIRY_TIMER),) if self.expire_after else ()
            return Reply([self.Deleted(reason="deleted")], _reply(outcome.reply), timers)
        value, reply = (
            (outcome.value, outcome.reply) if isinstance(outcome, Update) else (outcome, None)
        )
        if not isinstance(value, self.value_type):
            raise TypeError(
                f"{self.name}: a command handler returns a {self.value_type.__name__}, Update"
                f" or Delete, not {value!r}"
            )
        if value == stored.value:
            return Reply(reply=_reply(reply))
        timers: tuple[Timer, ...] = ()
        if self.expire_after is not None:
            expire = Expire(writes=stored.writes + 1)
            timers = (Timer(EXPIRY_TIMER, EXPIRE_COMMAND, expire, after=self.expire_after),)
        return Reply([self.StateChanged(state=value)], _reply(reply), timers)

    def _expire(self, stored: Stored, command: Expire) -> Reply:
        if stored.value is None or stored.writes != command.writes:
            return Reply()  # deleted since, or written since (its own timer is the live one)
        return Reply([self.Deleted(reason="expired")])

    def _changed(self, stored: Stored, event: Any) -> Stored:
        return self.state_type(value=event.state, writes=stored.writes + 1)

    def _deleted(self, stored: Stored, event: Any) -> Stored:
        return self.state_type(value=None, writes=stored.writes + 1)


def _reply(reply: Mapping[str, Any] | None) -> dict[str, Any] | None:
    return None if reply is None else dict(reply)
