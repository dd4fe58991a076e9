"""the ward's views: the ward's own migration history starts here

Their tables were made by Sluice's own migrations before each service kept its own history:
where they exist already (a database from then), they are left as they are.

Revision ID: 12adbc26f947
Revises:
Create Date: 2026-12-01 04:21:08.817887
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "12adbc26f947"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = ("ward",)
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "view_open_alerts",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("ward", sa.Text(), nullable=False),
        sa.Column("episode", sa.Integer(), nullable=False),
        sa.Column("risk", sa.Text(), nullable=False),
        sa.Column("risk_level", sa.Integer(), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escalation_reason", sa.Text(), nullable=True),
        sa.Column("acknowledged_by", sa.Text(), nullable=True),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("patient_id"),
        if_not_exists=True,
    )
    op.create_index(
        "view_open_alerts_ward_idx", "view_open_alerts", ["ward"], unique=False, if_not_exists=True
    )
    op.create_table(
        "view_ward_board",
        sa.Column("patient_id", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=True),
        sa.Column("ward", sa.Text(), nullable=True),
        sa.Column("bed", sa.Text(), nullable=True),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("latest_vitals", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("news2_score", sa.Integer(), nullable=True),
        sa.Column("risk", sa.Text(), nullable=True),
        sa.Column("reasons", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("recent_scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("last_vitals_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("alert_risk", sa.Text(), nullable=True),
        sa.Column("alert_acknowledged_by", sa.Text(), nullable=True),
        sa.Column("alert_escalated", sa.Boolean(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("patient_id"),
        if_not_exists=True,
    )
    op.create_index(
        "view_ward_board_ward_idx",
        "view_ward_board",
        ["ward", "bed"],
        unique=False,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("view_ward_board_ward_idx", table_name="view_ward_board")
    op.drop_table("view_ward_board")
    op.drop_index("view_open_alerts_ward_idx", table_name="view_open_alerts")
    op.drop_table("view_open_alerts")
