"""Held notices: a committed change's notices that could not be queued for mailing at commit.

A change's notices (offer ids and referral ids only) normally wait in Redis for a drain task
(directory/referrals/notice_queue.py). When Redis is down or does not answer, or in embedded mode
the mail service fails, they are written here instead, and the next round of beat's
`dispatch_outbox` (or the embedded sweep) hands them on.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "held_notices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("offer_ids", sa.JSON(), nullable=False),
        sa.Column("referral_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_held_notices")),
    )


def downgrade() -> None:
    op.drop_table("held_notices")
