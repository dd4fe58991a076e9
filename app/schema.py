"""The metadata Sluice's migrations own: every table declared in the ``app`` package.

Importing this module imports every table module, so ``metadata`` is complete wherever used.
The sample service's read models are here too: its views' tables ship with Sluice's
migrations. Tables declared elsewhere (another service's views, a test's) share SQLModel's
global registry but not these migrations, so they are left out by module.
"""

from sqlalchemy import MetaData
from sqlmodel import SQLModel

import app.actions.tables
import app.journal.tables
import app.keys.tables
import app.relay.tables
import app.services.ward.views
import app.timers.tables
import app.webhooks.tables  # noqa: F401


def platform_metadata() -> MetaData:
    owned = MetaData()
    for mapper in SQLModel._sa_registry.mappers:
        if mapper.class_.__module__.split(".")[0] == "app":
            mapper.local_table.to_metadata(owned)
    return owned


metadata = platform_metadata()
