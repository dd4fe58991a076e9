"""open workflows are indexed: GET /workflows finds the running and paused ones at once

A workflow's progress is snapshotted with every write; the running and paused ones are the
few an operator asks about among the many that ended, so only they are in the index.

Revision ID: 7d2e5b9c1f40
Revises: e3c1a7f4b2d9
Create Date: 2026-12-01 13:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "7d2e5b9c1f40"
down_revision: str | None = "e3c1a7f4b2d9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        "CREATE INDEX snapshots_open_workflows ON snapshots (entity_type, entity_id)"
        " WHERE state->>'kind' = 'workflow' AND state->>'status' IN ('running', 'paused')"
    )


def downgrade() -> None:
    op.execute("DROP INDEX snapshots_open_workflows")
