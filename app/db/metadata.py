"""The one SQLModel metadata: Alembic, queries and tests all see the same tables.

Importing this module imports every table module, so ``metadata`` is complete wherever used.
The sample service's read models are here too: its views' tables ship with Sluice's
migrations.
"""

from sqlmodel import SQLModel

import app.actions.tables
import app.journal.tables
import app.relay.tables
import app.services.ward.views
import app.timers.tables  # noqa: F401

metadata = SQLModel.metadata
