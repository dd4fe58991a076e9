"""Where the database is and how the process uses it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from app.config import SettingsGroup

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class DatabaseSettings(SettingsGroup):
    url: str | None = Field(
        default=None,
        alias="database_url",
        description="PostgreSQL to use (DATABASE_URL). Unset: an embedded server under data_dir.",
    )
    data_dir: Path = Field(
        default=Path(".sluice"), alias="data_dir", description="Embedded PostgreSQL's home."
    )
    embedded: bool = Field(
        default=True,
        alias="embedded",
        description="Start an embedded PostgreSQL when DATABASE_URL is unset (false in images).",
    )
    pool_min_size: int = Field(
        default=4, ge=1, alias="pool_min_size", description="Connections kept open."
    )
    pool_max_size: int = Field(
        default=16, ge=1, alias="pool_max_size", description="Connections at most."
    )
    timeout_seconds: float = Field(
        default=5.0,
        gt=0,
        alias="db_timeout_seconds",
        description="Longest wait for a database connection; then 503 (e.g. during an outage).",
    )
    wait_seconds: float = Field(
        default=60.0,
        ge=0,
        alias="db_wait_seconds",
        description="At start, how long `sluice serve`/`migrate` wait for an unreachable"
        " DATABASE_URL (retrying with backoff, a line per attempt) before giving up.",
    )

    @field_validator("url")
    @classmethod
    def _postgresql(cls, value: str | None) -> str | None:
        if not value:  # DATABASE_URL= (empty) is unset
            return None
        scheme = urlsplit(value).scheme
        if scheme not in SCHEMES:
            raise ValueError(
                f"must be a PostgreSQL URL (postgresql://user@host:5432/db), not {scheme or 'no'}"
                " scheme"
            )
        return value

    def uses_embedded_server(self) -> bool:
        return self.url is None and self.embedded
