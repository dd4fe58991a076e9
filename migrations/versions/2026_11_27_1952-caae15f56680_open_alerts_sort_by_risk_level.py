"""open alerts sort by risk level

risk is text: sorted as text, high < low-medium < medium. risk_level sorts by severity.

Revision ID: caae15f56680
Revises: cefdf14bb7a1
Create Date: 2026-11-27 19:52:04.998906
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "caae15f56680"
down_revision: str | None = "cefdf14bb7a1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Existing rows get their level from their risk, so no rebuild is needed.
    op.add_column(
        "view_open_alerts",
        sa.Column("risk_level", sa.Integer(), nullable=False, server_default="0"),
    )
    op.execute(
        "UPDATE view_open_alerts SET risk_level = CASE risk WHEN 'high' THEN 3"
        " WHEN 'medium' THEN 2 ELSE 1 END"
    )
    op.alter_column("view_open_alerts", "risk_level", server_default=None)


def downgrade() -> None:
    op.drop_column("view_open_alerts", "risk_level")
