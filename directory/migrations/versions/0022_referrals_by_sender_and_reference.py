"""An index on referrals by sender and client reference: each submission looks for the sender's
referral in progress with the same reference (`service.submit_referral`), and the referral list
reads the sender's referrals.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-08
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_referrals_created_by_id_client_reference", "referrals", ["created_by_id", "client_reference"])


def downgrade() -> None:
    op.drop_index("ix_referrals_created_by_id_client_reference", table_name="referrals")
