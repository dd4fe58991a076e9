"""webhook deliveries claimed per subscription

The claim takes each subscription's oldest due deliveries through (webhook_id, next_attempt_at):
one subscription's backlog no longer makes every claim scan and sort it.

Revision ID: b731e285e85a
Revises: 9a91bd1d76bc
Create Date: 2026-11-27 21:13:58.663017
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "b731e285e85a"
down_revision: str | None = "9a91bd1d76bc"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(
        op.f("webhook_deliveries_due_idx"),
        table_name="webhook_deliveries",
        postgresql_where="(status = 'pending'::text)",
    )
    op.create_index(
        "webhook_deliveries_due_idx",
        "webhook_deliveries",
        ["webhook_id", "next_attempt_at", "id"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        "webhook_deliveries_retry_idx",
        "webhook_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where=sa.text("status = 'pending'"),
    )


def downgrade() -> None:
    op.drop_index(
        "webhook_deliveries_retry_idx",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.drop_index(
        "webhook_deliveries_due_idx",
        table_name="webhook_deliveries",
        postgresql_where=sa.text("status = 'pending'"),
    )
    op.create_index(
        op.f("webhook_deliveries_due_idx"),
        "webhook_deliveries",
        ["next_attempt_at"],
        unique=False,
        postgresql_where="(status = 'pending'::text)",
    )
