"""topic partitions remember the producer's seq: a message a publisher sent again is passed over

A consumer of a Kafka topic keeps, per partition, the producer's seq of the last event it
applied, moved in the same transaction as its rows and position.

Revision ID: e3c1a7f4b2d9
Revises: a99874d4cd71
Create Date: 2026-12-01 09:50:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "e3c1a7f4b2d9"
down_revision: str | None = "a99874d4cd71"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("checkpoints", sa.Column("upstream_seq", sa.BigInteger(), nullable=True))


def downgrade() -> None:
    op.drop_column("checkpoints", "upstream_seq")
