"""the outreach team's callouts on the board: view_callout_status

Revision ID: 5c1e07a2b9d4
Revises: 12adbc26f947
Create Date: 2026-12-01 06:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "5c1e07a2b9d4"
down_revision: str | None = "12adbc26f947"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "view_callout_status",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("callout", sa.Integer(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("responder", sa.Text(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
        if_not_exists=True,  # a database whose view tables Sluice made at start has it
    )


def downgrade() -> None:
    op.drop_table("view_callout_status")
