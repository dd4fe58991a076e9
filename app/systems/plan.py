"""A system file read and checked: which services run, where, and who reads whom.

The file lists services and ports only. The links between them come from the services'
own declarations (each Subscription names the producing service and stream), so they cannot
disagree with the code: a subscription to a service that is not in the system, or to a
stream its producer does not publish, is refused here, before anything starts.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from app.config import ConfigurationError
from app.sdk.service import Service, load_service
from app.sdk.view import NAME
from app.upstream.settings import variable


def bundled_system() -> Path:
    """The hospital (ward + outreach): what `sluice up` runs when given no file."""
    return Path(str(resources.files("app.systems").joinpath("hospital.toml")))


class ServiceEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    service: str = Field(description="module:attribute, as SLUICE_SERVICE.")
    port: int = Field(ge=1, le=65535)
    host: str = "127.0.0.1"
    database_url: str | None = Field(default=None, description="Unset: embedded, its own.")
    env: dict[str, str] = Field(default_factory=dict, description="More SLUICE_… settings.")

    @field_validator("env")
    @classmethod
    def _settings_only(cls, env: dict[str, str]) -> dict[str, str]:
        for name in env:
            if not name.startswith("SLUICE_"):
                raise ValueError(f"{name}: only SLUICE_… settings belong here")
        return env


class SystemFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    services: dict[str, ServiceEntry] = Field(min_length=1)


@dataclass(frozen=True)
class Link:
    """``consumer`` reads ``streams`` of ``producer``."""

    consumer: str
    producer: str
    streams: tuple[str, ...]

    @property
    def scopes(self) -> str:
        return ",".join(f"streams:read:{stream}" for stream in self.streams)


@dataclass
class SystemPlan:
    entries: dict[str, ServiceEntry]
    services: dict[str, Service]
    links: list[Link] = field(default_factory=list)

    def reads(self, consumer: str) -> list[Link]:
        return [link for link in self.links if link.consumer == consumer]

    def url(self, name: str) -> str:
        entry = self.entries[name]
        return f"http://{entry.host}:{entry.port}"


def read_system(path: Path) -> SystemPlan:
    try:
        parsed = SystemFile.model_validate(tomllib.loads(path.read_text()))
    except OSError as error:
        raise ConfigurationError(f"{path}: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise ConfigurationError(f"{path}: not TOML: {error}") from None
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise ConfigurationError(f"{path}: {where}: {first['msg']}") from None
    return plan(path, parsed)


def plan(path: Path, parsed: SystemFile) -> SystemPlan:
    ports = [entry.port for entry in parsed.services.values()]
    if len(set(ports)) != len(ports):
        raise ConfigurationError(f"{path}: two services on one port ({sorted(ports)})")
    services: dict[str, Service] = {}
    for name, entry in parsed.services.items():
        if not NAME.match(name):
            raise ConfigurationError(f"{path}: service name {name!r}: lowercase and '-'")
        service = load_service(entry.service)
        if service.name != name:
            raise ConfigurationError(
                f"{path}: [services.{name}] runs {entry.service}, whose name is"
                f" {service.name!r}: name the entry after the service (its readers do)"
            )
        services[name] = service
    system = SystemPlan(dict(parsed.services), services)
    for name, service in services.items():
        system.links += _links(path, name, service, services)
    return system


def _links(path: Path, name: str, service: Service, services: dict[str, Service]) -> list[Link]:
    wanted: dict[str, set[str]] = {}
    for subscription in service.subscriptions:
        producer = services.get(subscription.service)
        if producer is None:
            raise ConfigurationError(
                f"{path}: {name} subscribes to {subscription.upstream}, and"
                f" {subscription.service} is not in this system (add it, or run {name} with"
                f" `sluice serve` and {variable(subscription.service, 'url')})"
            )
        if subscription.stream not in producer.stream_types:
            published = ", ".join(sorted(producer.stream_types)) or "none"
            raise ConfigurationError(
                f"{path}: {name} subscribes to {subscription.upstream}, which"
                f" {subscription.service} does not publish (its streams: {published})"
            )
        wanted.setdefault(subscription.service, set()).add(subscription.stream)
    return [Link(name, producer, tuple(sorted(streams))) for producer, streams in wanted.items()]
