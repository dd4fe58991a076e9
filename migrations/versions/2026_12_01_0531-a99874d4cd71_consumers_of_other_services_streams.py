"""consumers of other services' streams: a checkpoint may follow an upstream's public stream

An upstream event that could not be read at all is parked without an event id.

Revision ID: a99874d4cd71
Revises: 4b1d0c0a7e21
Create Date: 2026-12-01 05:31:49.919963
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a99874d4cd71"
down_revision: str | None = "4b1d0c0a7e21"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("checkpoints", sa.Column("upstream", sa.Text(), nullable=True))
    op.add_column("checkpoints", sa.Column("upstream_head", sa.BigInteger(), nullable=True))
    op.add_column("checkpoints", sa.Column("upstream_error", sa.Text(), nullable=True))
    op.add_column(
        "checkpoints",
        sa.Column("upstream_failing_since", sa.DateTime(timezone=True), nullable=True),
    )
    op.add_column(
        "checkpoints", sa.Column("upstream_caught_up_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column(
        "checkpoints",
        sa.Column(
            "waiting_for_head", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
    )
    op.alter_column("parked_events", "event_id", existing_type=sa.UUID(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM parked_events WHERE event_id IS NULL")
    op.alter_column("parked_events", "event_id", existing_type=sa.UUID(), nullable=False)
    op.drop_column("checkpoints", "waiting_for_head")
    op.drop_column("checkpoints", "upstream_caught_up_at")
    op.drop_column("checkpoints", "upstream_failing_since")
    op.drop_column("checkpoints", "upstream_error")
    op.drop_column("checkpoints", "upstream_head")
    op.drop_column("checkpoints", "upstream")
