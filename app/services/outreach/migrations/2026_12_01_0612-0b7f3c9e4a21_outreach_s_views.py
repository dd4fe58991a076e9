"""outreach's views: its callouts, and the ward's alerts as it reads them

Revision ID: 0b7f3c9e4a21
Revises:
Create Date: 2026-12-01 06:12:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0b7f3c9e4a21"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("outreach",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "view_callouts",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("callout", sa.Integer(), nullable=False),
        sa.Column("ward", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("risk", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("responder", sa.Text(), nullable=True),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
    )
    op.create_index(
        "view_callouts_status_idx", "view_callouts", ["status", "requested_at"], unique=False
    )
    op.create_table(
        "view_ward_alerts",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("risk", sa.Text(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("escalations", sa.Integer(), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
    )


def downgrade() -> None:
    op.drop_table("view_ward_alerts")
    op.drop_index("view_callouts_status_idx", table_name="view_callouts")
    op.drop_table("view_callouts")
