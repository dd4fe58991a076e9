"""Where the database is: DATABASE_URL, or the embedded server started on demand."""

from __future__ import annotations

from app.config import ConfigurationError
from app.db.embedded import start_embedded
from app.db.settings import DatabaseSettings


def resolve_database_url(settings: DatabaseSettings) -> str:
    if settings.url:
        return settings.url
    if not settings.embedded:
        raise ConfigurationError(
            "DATABASE_URL is required (SLUICE_EMBEDDED=false: no embedded server)"
        )
    return start_embedded(settings.data_dir)
