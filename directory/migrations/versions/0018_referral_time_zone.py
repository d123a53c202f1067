"""The referrer's time zone on each referral (`referrals.time_zone`, an IANA name): the intake's
last-use time is read in it, and the referral's times are shown in it. Referrals made before
were entered in UTC, so they keep "UTC".

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("referrals", sa.Column("time_zone", sa.String(64), nullable=False, server_default="UTC"))


def downgrade() -> None:
    op.drop_column("referrals", "time_zone")
