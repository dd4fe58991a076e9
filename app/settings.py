"""Every knob Sluice reads, from the environment (prefix ``SLUICE_``, plus ``DATABASE_URL``).

The knobs are declared, with their defaults, by the packages that use them (each package's
``settings.py``, a ``SettingsGroup``); ``Settings`` puts the groups together and reads each
field from the environment by its flat name, ``SLUICE_`` + its alias, as it always was
(``SLUICE_RELAY_POLL_SECONDS`` is ``settings.background.poll_seconds``). ``Settings(...)`` also
takes flat names (``Settings(relay_poll_seconds=0.2)``), so a test reads like the environment
it stands for. Each field is documented in the README's settings table; a test keeps the two
in step.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from app.api.settings import HttpSettings, LogSettings
from app.background.settings import ProcessSettings, WorkerSettings
from app.config import ConfigurationError, SettingsGroup
from app.db.settings import DatabaseSettings
from app.journal.settings import CommandSettings
from app.kafka.settings import KafkaSettings
from app.keys.settings import KeySettings
from app.relay.settings import ConsumerSettings, SequencerSettings
from app.stream.settings import StreamSettings
from app.upstream.settings import UpstreamEndpoint, UpstreamSettings, endpoints_from
from app.views.settings import ViewSettings
from app.webhooks.settings import WebhookSettings

__all__ = ["ConfigurationError", "Settings", "get_settings"]

PREFIX = "SLUICE_"
PROJECT_FILE = "pyproject.toml"  # in the current folder: a service project's defaults
# Variables known without the prefix too (the conventional name first).
UNPREFIXED = {"database_url": "DATABASE_URL"}
TOP_LEVEL = ("service", "service_name")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    service: str = Field(
        default="app.services.ward:service",
        description="The service to run, as 'module:attribute'.",
    )
    service_name: str | None = Field(
        default=None, description="Name used in event sources; defaults to the service's own."
    )
    database: DatabaseSettings = DatabaseSettings()
    http: HttpSettings = HttpSettings()
    process: ProcessSettings = ProcessSettings()
    logs: LogSettings = LogSettings()
    keys: KeySettings = KeySettings()
    commands: CommandSettings = CommandSettings()
    background: WorkerSettings = WorkerSettings()
    sequencer: SequencerSettings = SequencerSettings()
    consumers: ConsumerSettings = ConsumerSettings()
    views: ViewSettings = ViewSettings()
    stream: StreamSettings = StreamSettings()
    webhooks: WebhookSettings = WebhookSettings()
    upstream: UpstreamSettings = UpstreamSettings()
    kafka: KafkaSettings = KafkaSettings()
    # The services whose public streams this one reads: SLUICE_UPSTREAM_<SERVICE>_URL / _KEY.
    upstreams: dict[str, UpstreamEndpoint] = Field(default_factory=dict)

    GROUPS: ClassVar[tuple[str, ...]] = (
        "database",
        "http",
        "process",
        "logs",
        "keys",
        "commands",
        "background",
        "sequencer",
        "consumers",
        "views",
        "stream",
        "webhooks",
        "upstream",
        "kafka",
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, FlatEnvironment(settings_cls), ProjectFile(settings_cls))

    @model_validator(mode="before")
    @classmethod
    def _group_flat_names(cls, data: Any) -> Any:
        """``relay_poll_seconds=…`` (from a caller or the environment) into its group."""
        if not isinstance(data, dict):
            return data
        grouped: dict[str, Any] = {name: value for name, value in data.items() if name not in _FLAT}
        for name, value in data.items():
            owner = _FLAT.get(name)
            if owner is None or isinstance(grouped.get(owner[0]), SettingsGroup):
                continue  # a group given whole wins over single values
            grouped.setdefault(owner[0], {})[owner[1]] = value
        return grouped

    @model_validator(mode="after")
    def _resolve(self) -> Settings:
        """Defaults that depend on another group: private webhook targets are allowed with
        the embedded database (local use) unless said otherwise."""
        if self.webhooks.allow_private is None:
            allowed = self.database.uses_embedded_server()
            object.__setattr__(
                self, "webhooks", self.webhooks.model_copy(update={"allow_private": allowed})
            )
        return self

    def but(self, **flat: Any) -> Settings:
        """These settings with some changed, by flat name: ``settings.but(ws_queue_size=50)``."""
        return type(self).model_validate({**self.flat(), **flat})

    def flat(self) -> dict[str, Any]:
        """Every value by its flat name."""
        values: dict[str, Any] = {name: getattr(self, name) for name in TOP_LEVEL}
        values["upstreams"] = self.upstreams
        for group_name in self.GROUPS:
            group: SettingsGroup = getattr(self, group_name)
            for attribute, info in type(group).model_fields.items():
                values[info.alias or attribute] = getattr(group, attribute)
        return values


def variable_of(location: tuple[int | str, ...]) -> str:
    """The environment variable a validation error's location (``("database", "url")``)
    is about."""
    if len(location) >= 2 and location[0] in Settings.GROUPS:
        group = Settings.model_fields[str(location[0])].annotation
        info = group.model_fields.get(str(location[1]))  # type: ignore[union-attr]
        if info is not None:
            flat = info.alias or str(location[1])
            return UNPREFIXED.get(flat, f"{PREFIX}{flat.upper()}")
    name = str(location[0]) if location else "?"
    return UNPREFIXED.get(name, f"{PREFIX}{name.upper()}")


def documented() -> Iterator[tuple[str, FieldInfo]]:
    """Each environment variable with its field (default, description), in group order."""
    for name in TOP_LEVEL:
        yield f"{PREFIX}{name.upper()}", Settings.model_fields[name]
    for group_name in Settings.GROUPS:
        group = Settings.model_fields[group_name].annotation
        assert group is not None
        for attribute, info in group.model_fields.items():  # type: ignore[union-attr]
            flat = info.alias or attribute
            yield UNPREFIXED.get(flat, f"{PREFIX}{flat.upper()}"), info


def _flat_names() -> dict[str, tuple[str, str]]:
    found: dict[str, tuple[str, str]] = {}
    for group_name in Settings.GROUPS:
        group = Settings.model_fields[group_name].annotation
        for attribute, info in group.model_fields.items():  # type: ignore[union-attr]
            flat = info.alias or attribute
            assert flat not in found, f"two settings named {flat}"
            found[flat] = (group_name, attribute)
    return found


_FLAT = _flat_names()


class FlatEnvironment(PydanticBaseSettingsSource):
    """The groups' fields from the environment, by flat name (case-insensitive, as
    pydantic-settings reads the rest)."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        environment = {name.upper(): value for name, value in os.environ.items()}
        found: dict[str, Any] = {}
        for flat in (*TOP_LEVEL, *_FLAT):
            names = [f"{PREFIX}{flat.upper()}"]
            if flat in UNPREFIXED:
                names.insert(0, UNPREFIXED[flat])
            for name in names:
                if name in environment:
                    found[flat] = environment[name]
                    break
        endpoints = endpoints_from(environment)
        if endpoints:
            found["upstreams"] = endpoints
        return found


class ProjectFile(PydanticBaseSettingsSource):
    """A project's defaults, under its ``pyproject.toml``'s ``[tool.sluice]`` (flat names:
    ``service = "mybank:service"``): below the environment, which always wins. So ``sluice
    serve`` in a service's folder runs that service without a variable set by hand."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ does the work

    def __call__(self) -> dict[str, Any]:
        path = Path(PROJECT_FILE)
        if not path.is_file():
            return {}
        try:
            table = tomllib.loads(path.read_text()).get("tool", {}).get("sluice", {})
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise ConfigurationError(f"{path}: cannot read [tool.sluice]: {error}") from None
        known = {*TOP_LEVEL, *_FLAT}
        unknown = sorted(set(table) - known)
        if unknown:
            raise ConfigurationError(f"{path}: [tool.sluice] has no setting {', '.join(unknown)}")
        return dict(table)


@lru_cache
def get_settings() -> Settings:
    return Settings()
