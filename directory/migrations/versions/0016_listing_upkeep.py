"""Keeping listings true: problem reports, profile views per day, confirmation requests.

`listing_reports` holds what the public reports wrong with a listing (no personal data);
`center_profile_views` counts profile views per center and day; `centers.confirmation_requested_at`
notes when a center's staff were last mailed to confirm their listing, a mail that goes through
the outbox as a notice about a center (`outbox.center_id`, with no referral). The downgrade drops
those notices.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-09
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

outbox = sa.table("outbox", sa.column("referral_id", sa.String))


def upgrade() -> None:
    op.create_table(
        "listing_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("resolved_at", sa.DateTime(), nullable=True),
        sa.Column("resolved_by_id", sa.Integer(), nullable=True),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("resolution_note", sa.String(length=500), nullable=True),
        sa.ForeignKeyConstraint(
            ["center_id"], ["centers.id"], name=op.f("fk_listing_reports_center_id_centers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"], ["users.id"], name=op.f("fk_listing_reports_resolved_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_listing_reports")),
    )
    op.create_index("ix_listing_reports_center_id_resolved_at", "listing_reports", ["center_id", "resolved_at"])
    op.create_index("ix_listing_reports_resolved_at", "listing_reports", ["resolved_at"])
    op.create_table(
        "center_profile_views",
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("views", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["center_id"], ["centers.id"], name=op.f("fk_center_profile_views_center_id_centers"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("center_id", "day", name=op.f("pk_center_profile_views")),
    )
    op.create_index("ix_center_profile_views_day", "center_profile_views", ["day"])
    # A plain ADD COLUMN: rebuilding `centers` on SQLite would drop its R*Tree triggers.
    op.add_column("centers", sa.Column("confirmation_requested_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("referral_id", existing_type=sa.String(length=32), nullable=True)
        batch_op.add_column(sa.Column("center_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_outbox_center_id_centers"), "centers", ["center_id"], ["id"], ondelete="CASCADE"
        )
        batch_op.create_index("ix_outbox_center_id", ["center_id"], unique=False)


def downgrade() -> None:
    op.execute(sa.delete(outbox).where(outbox.c.referral_id.is_(None)))
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_center_id")
        batch_op.drop_constraint(batch_op.f("fk_outbox_center_id_centers"), type_="foreignkey")
        batch_op.drop_column("center_id")
        batch_op.alter_column("referral_id", existing_type=sa.String(length=32), nullable=False)
    op.drop_column("centers", "confirmation_requested_at")  # not a rebuild, as above
    op.drop_index("ix_center_profile_views_day", table_name="center_profile_views")
    op.drop_table("center_profile_views")
    op.drop_index("ix_listing_reports_resolved_at", table_name="listing_reports")
    op.drop_index("ix_listing_reports_center_id_resolved_at", table_name="listing_reports")
    op.drop_table("listing_reports")
