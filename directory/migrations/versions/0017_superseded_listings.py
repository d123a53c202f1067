"""Listings a newer source no longer has (`centers.superseded_*`), the external ids matched
listings had before (`former_external_ids`), and an index on ZIP codes for matching.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


# Plain ALTER TABLE, on SQLite too (3.35+ drops columns): a batch copy of `centers` would lose
# the triggers that keep its R*Tree in step.


def upgrade() -> None:
    op.add_column("centers", sa.Column("superseded_at", sa.DateTime(), nullable=True))
    op.add_column("centers", sa.Column("superseded_by", sa.String(60), nullable=True))
    op.add_column("centers", sa.Column("superseded_by_date", sa.Date(), nullable=True))
    op.create_index("ix_centers_zip", "centers", ["zip"])
    op.create_table(
        "former_external_ids",
        sa.Column("external_id", sa.String(200), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["center_id"], ["centers.id"], name="fk_former_external_ids_center_id_centers", ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("external_id", name="pk_former_external_ids"),
    )
    op.create_index("ix_former_external_ids_center_id", "former_external_ids", ["center_id"])


def downgrade() -> None:
    op.drop_index("ix_former_external_ids_center_id", table_name="former_external_ids")
    op.drop_table("former_external_ids")
    op.drop_index("ix_centers_zip", table_name="centers")
    op.drop_column("centers", "superseded_by_date")
    op.drop_column("centers", "superseded_by")
    op.drop_column("centers", "superseded_at")
