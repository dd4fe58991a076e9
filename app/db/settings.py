"""Where the database is and how the process uses it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import field_validator

from app.config import SettingsGroup, setting

SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


class DatabaseSettings(SettingsGroup):
    url: str | None = setting(
        None,
        "database_url",
        "PostgreSQL to use (DATABASE_URL). Unset: an embedded server under data_dir.",
    )
    data_dir: Path = setting(Path(".sluice"), "data_dir", "Embedded PostgreSQL's home.")
    embedded: bool = setting(
        True,
        "embedded",
        "Start an embedded PostgreSQL when DATABASE_URL is unset (false in images).",
    )
    pool_min_size: int = setting(4, "pool_min_size", "Connections kept open.", ge=1)
    pool_max_size: int = setting(16, "pool_max_size", "Connections at most.", ge=1)
    timeout_seconds: float = setting(
        5.0,
        "db_timeout_seconds",
        "Longest wait for a database connection; then 503 (e.g. during an outage).",
        gt=0,
    )
    wait_seconds: float = setting(
        60.0,
        "db_wait_seconds",
        "At start, how long `sluice serve`/`migrate` wait for an unreachable"
        " DATABASE_URL (retrying with backoff, a line per attempt) before giving up.",
        ge=0,
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
