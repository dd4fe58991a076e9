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
    # The ward's tables belong to the ward's own history now (app/services/ward/migrations,
    # which creates the table with this column): here only for a table made before that.
    if not _lacks_risk_level():
        return
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
    """The column is the ward's now (its history drops the table): nothing to undo here."""


def _lacks_risk_level() -> bool:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("view_open_alerts"):
        return False
    return "risk_level" not in {
        column["name"] for column in inspector.get_columns("view_open_alerts")
    }
