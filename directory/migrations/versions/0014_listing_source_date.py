"""The day a listing's source listed it (`centers.source_date`), for "Listed on FindTreatment.gov,
August 2025".

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, on SQLite too (3.35+ drops columns): a batch copy of `centers` would lose
# the triggers that keep its R*Tree in step.


def upgrade() -> None:
    op.add_column("centers", sa.Column("source_date", sa.Date(), nullable=True))


def downgrade() -> None:
    op.drop_column("centers", "source_date")
