"""Referrals, offers, the referral timeline and the task outbox.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 05:51:09.864534
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "referrals",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("client_reference", sa.String(length=64), nullable=False),
        sa.Column("contact_phone", sa.String(length=40), nullable=True),
        sa.Column("location", sa.String(length=120), nullable=False),
        sa.Column("latitude", sa.Double(), nullable=False),
        sa.Column("longitude", sa.Double(), nullable=False),
        sa.Column("max_distance_miles", sa.Double(), nullable=False),
        sa.Column("payment", sa.String(length=40), nullable=False),
        sa.Column("primary_opioid", sa.String(length=20), nullable=False),
        sa.Column("last_opioid_use", sa.DateTime(), nullable=False),
        sa.Column("liver_disease", sa.String(length=10), nullable=False),
        sa.Column("on_opioid_pain_therapy", sa.Boolean(), nullable=False),
        sa.Column("interacting_medications", sa.JSON(), nullable=False),
        sa.Column("alcohol_use_disorder", sa.Boolean(), nullable=False),
        sa.Column("language", sa.String(length=20), nullable=True),
        sa.Column("populations", sa.JSON(), nullable=False),
        sa.Column("consent_recipients", sa.Text(), nullable=False),
        sa.Column("consent_purpose", sa.Text(), nullable=False),
        sa.Column("consent_expires_on", sa.Date(), nullable=False),
        sa.Column("consent_revoked_at", sa.DateTime(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("status_reason", sa.Text(), nullable=True),
        sa.Column("plan", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_referrals_created_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referrals")),
    )
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.create_index("ix_referrals_status", ["status"], unique=False)

    op.create_table(
        "offers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.String(length=32), nullable=False),
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=20), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("why", sa.JSON(), nullable=False),
        sa.Column("distance_miles", sa.Double(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("responded_at", sa.DateTime(), nullable=True),
        sa.Column("responded_by_id", sa.Integer(), nullable=True),
        sa.Column("admission_date", sa.Date(), nullable=True),
        sa.Column("target_start", sa.Date(), nullable=True),
        sa.Column("decline_reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["center_id"], ["centers.id"], name=op.f("fk_offers_center_id_centers"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_offers_referral_id_referrals"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["responded_by_id"], ["users.id"], name=op.f("fk_offers_responded_by_id_users"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_offers")),
        sa.UniqueConstraint("referral_id", "step", "center_id", name=op.f("uq_offers_referral_id")),
    )
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.create_index("ix_offers_center_id_status", ["center_id", "status"], unique=False)
        batch_op.create_index("ix_offers_status_expires_at", ["status", "expires_at"], unique=False)

    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=60), nullable=False),
        sa.Column("referral_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("dispatched_at", sa.DateTime(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["referral_id"], ["referrals.id"], name=op.f("fk_outbox_referral_id_referrals"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
    )
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.create_index("ix_outbox_dispatched_at", ["dispatched_at"], unique=False)

    op.create_table(
        "referral_timeline",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(length=40), nullable=False),
        sa.Column("by_id", sa.Integer(), nullable=True),
        sa.Column("by_label", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["by_id"], ["users.id"], name=op.f("fk_referral_timeline_by_id_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["referral_id"],
            ["referrals.id"],
            name=op.f("fk_referral_timeline_referral_id_referrals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_referral_timeline")),
    )


def downgrade() -> None:
    op.drop_table("referral_timeline")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_outbox_dispatched_at")

    op.drop_table("outbox")
    with op.batch_alter_table("offers", schema=None) as batch_op:
        batch_op.drop_index("ix_offers_status_expires_at")
        batch_op.drop_index("ix_offers_center_id_status")

    op.drop_table("offers")
    with op.batch_alter_table("referrals", schema=None) as batch_op:
        batch_op.drop_index("ix_referrals_status")

    op.drop_table("referrals")
