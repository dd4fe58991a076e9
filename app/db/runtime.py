"""Where the database is: DATABASE_URL, or the embedded server started on demand."""

from __future__ import annotations

from app.db.embedded import start_embedded
from app.settings import ConfigurationError, Settings


def resolve_database_url(settings: Settings) -> str:
    if settings.database_url:
        return settings.database_url
    if not settings.embedded:
        raise ConfigurationError(
            "DATABASE_URL is required (SLUICE_EMBEDDED=false: no embedded server)"
        )
    return start_embedded(settings.data_dir)
