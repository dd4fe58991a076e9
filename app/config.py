"""The shape every package's settings take: a group of fields, each known by its flat name.

Each package declares the knobs it reads, with their defaults, in its own ``settings.py``:
one place per default, next to the code that uses it. ``app/settings.py`` composes the groups
into ``Settings`` and reads them from the environment by their flat names, so every variable
keeps the name it always had (``SLUICE_`` + the field's alias: ``relay_poll_seconds`` is
``SLUICE_RELAY_POLL_SECONDS``), while a component receives its whole group, typed.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class ConfigurationError(RuntimeError):
    """The settings cannot work together; the CLI prints this and exits 2."""


class SettingsGroup(BaseModel):
    """A package's settings. Each field's alias is its flat name (``Settings(relay_poll_
    seconds=…)``, ``SLUICE_RELAY_POLL_SECONDS``); the attribute is the name the package uses."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid", frozen=True)


def setting(default: Any, alias: str, description: str, **rules: Any) -> Any:
    """A group's field: its default, its flat name (``SLUICE_`` + the alias, upper-cased), what
    it does (the README's settings table shows it), and any rules (``ge=1``, ``pattern=…``)."""
    return Field(default=default, alias=alias, description=description, **rules)
