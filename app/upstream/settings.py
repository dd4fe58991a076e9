"""Where the services this one subscribes to are, and how it reads them.

Each upstream service is named by two variables, read by ``Settings``:
``SLUICE_UPSTREAM_<SERVICE>_URL`` (its base URL) and ``SLUICE_UPSTREAM_<SERVICE>_KEY`` (a key
of *that* service holding ``streams:read`` or ``streams:read:<stream>``); ``<SERVICE>`` is the
service's name upper-cased, ``-`` as ``_`` (``critical-care``:
``SLUICE_UPSTREAM_CRITICAL_CARE_URL``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict, Field, field_validator

from app.config import SettingsGroup, setting

ENDPOINT_VARIABLE = re.compile(r"^SLUICE_UPSTREAM_([A-Z][A-Z0-9_]*)_(URL|KEY)$")


class UpstreamEndpoint(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    url: str | None = Field(default=None, description="The producer's base URL.")
    key: str | None = Field(default=None, description="A key of the producer's.")

    @field_validator("url")
    @classmethod
    def _http(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError(
                f"must be an http(s) base URL, like http://127.0.0.1:8001, not {value!r}"
            )
        return value.rstrip("/") if value else value


def endpoints_from(environment: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """``{"ward": {"url": …, "key": …}}`` from SLUICE_UPSTREAM_WARD_URL and _KEY."""
    found: dict[str, dict[str, str]] = {}
    for name, value in environment.items():
        matched = ENDPOINT_VARIABLE.match(name.upper())
        if matched is None:
            continue
        service = matched.group(1).lower().replace("_", "-")
        found.setdefault(service, {})[matched.group(2).lower()] = value
    return found


def variable(service: str, part: str) -> str:
    return f"SLUICE_UPSTREAM_{service.upper().replace('-', '_')}_{part.upper()}"


class UpstreamSettings(SettingsGroup):
    wait_seconds: float = setting(
        20.0,
        "upstream_wait_seconds",
        "A caught-up subscription asks its producer to hold the request this long for new"
        " events (a long poll) before asking again.",
        gt=0,
        le=30,
    )
    timeout_seconds: float = setting(
        10.0,
        "upstream_timeout_seconds",
        "A producer that has not answered this long past the wait is unavailable (connect, read).",
        gt=0,
    )
    page_size: int = setting(
        5000, "upstream_page_size", "Public events a subscription reads per request.", ge=1, le=5000
    )
