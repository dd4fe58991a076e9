"""The one SQLModel metadata: Alembic, queries and tests all see the same tables.

Importing this module imports every table module, so ``metadata`` is complete wherever used.
"""

from sqlmodel import SQLModel

import app.journal.tables  # noqa: F401  (registers the journal's tables)

metadata = SQLModel.metadata
