"""When an open offer's center was reminded of it (`offers.reminded_at`): one reminder an offer.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-10
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("offers", sa.Column("reminded_at", sa.DateTime(), nullable=True))


def downgrade() -> None:
    op.drop_column("offers", "reminded_at")
