"""The metadata Sluice's own migrations (``migrations/versions``) manage: the platform's tables.

Importing this module imports every platform table module, so ``metadata`` is complete
wherever used. A service's tables (its views') are not here: each service keeps its own
migration history (``Service(..., migrations=folder)``, app/db/migrate.py).
"""

from sqlalchemy import MetaData
from sqlmodel import SQLModel

import app.actions.tables
import app.journal.tables
import app.keys.tables
import app.relay.tables
import app.timers.tables
import app.webhooks.tables  # noqa: F401

PLATFORM_MODULES = (
    "app.actions.",
    "app.journal.",
    "app.keys.",
    "app.relay.",
    "app.timers.",
    "app.webhooks.",
)


def platform_metadata() -> MetaData:
    owned = MetaData()
    for mapper in SQLModel._sa_registry.mappers:
        if mapper.class_.__module__.startswith(PLATFORM_MODULES):
            mapper.local_table.to_metadata(owned)
    return owned


metadata = platform_metadata()
