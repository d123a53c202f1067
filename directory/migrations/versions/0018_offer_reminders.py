"""When an open offer's center was reminded of it (`offers.reminded_at`): one reminder an offer.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("offers", sa.Column("reminded_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("offers", "reminded_at")
