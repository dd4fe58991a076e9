"""drop the unused events type index

No query reads it, and the sequencer's update of every row paid an index entry for it.

Revision ID: 94ab28aa1d71
Revises: 0306bdee963f
Create Date: 2026-11-27 18:38:46.806283
"""

from collections.abc import Sequence

from alembic import op

revision: str = "94ab28aa1d71"
down_revision: str | None = "0306bdee963f"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index(op.f("events_type_idx"), table_name="events")


def downgrade() -> None:
    op.create_index(op.f("events_type_idx"), "events", ["type"], unique=False)
