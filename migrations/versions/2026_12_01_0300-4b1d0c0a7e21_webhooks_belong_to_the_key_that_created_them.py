"""webhooks belong to the key that created them

A key with ``webhooks:manage`` could see, re-point and replay every subscription, and so read
every event by way of its own URL. Each subscription now records the key that created it;
existing ones have no owner and are left to admin keys.

Revision ID: 4b1d0c0a7e21
Revises: 50319c20c546
Create Date: 2026-12-01 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4b1d0c0a7e21"
down_revision: str | None = "50319c20c546"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("webhooks", sa.Column("owner_key_id", sa.UUID(), nullable=True))
    op.create_index(op.f("ix_webhooks_owner_key_id"), "webhooks", ["owner_key_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_webhooks_owner_key_id"), table_name="webhooks")
    op.drop_column("webhooks", "owner_key_id")
