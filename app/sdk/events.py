"""Events and commands: the pydantic models a service author declares.

An event's stored name (``event_type``) and ``schema_version`` are part of the journal's format:
they are fixed at class creation so renaming a Python class never orphans stored events.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class Event(BaseModel):
    """Base for events: ``class PatientAdmitted(Event, type_name=..., schema_version=2)``."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_type: ClassVar[str] = ""
    schema_version: ClassVar[int] = 1

    def __init_subclass__(
        cls, *, type_name: str | None = None, schema_version: int = 1, **kwargs: Any
    ) -> None:
        super().__init_subclass__(**kwargs)
        if type_name == "":
            raise ValueError(f"{cls.__name__}: type_name must not be empty")
        if schema_version < 1:
            raise ValueError(f"{cls.__name__}: schema_version starts at 1")
        cls.event_type = type_name or cls.__name__
        cls.schema_version = schema_version


class Command(BaseModel):
    """Base for command bodies. Unknown fields are refused so a typo is a 422, not a no-op."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Rejection(Exception):
    """Raised by a command handler to refuse a command; the HTTP layer answers 409."""

    def __init__(self, reason: str, **detail: Any) -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail
