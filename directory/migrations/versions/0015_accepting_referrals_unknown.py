""" "Accepting referrals" may be unknown: `centers.accepting_referrals` is null until the center says.

Imported listings whose center never edited them become unknown (imports wrote "yes" for every
one). SQLite cannot drop a NOT NULL in place, and a copy of `centers` (Alembic's batch mode)
would delete, through its foreign keys, every row that cascades from it: the column is swapped
for a new one with ADD, DROP and RENAME COLUMN instead.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _swap_on_sqlite(definition: str, value: str) -> None:
    op.execute(f"ALTER TABLE centers ADD COLUMN accepting_referrals_new {definition}")
    op.execute(f"UPDATE centers SET accepting_referrals_new = {value}")
    op.execute("ALTER TABLE centers DROP COLUMN accepting_referrals")
    op.execute("ALTER TABLE centers RENAME COLUMN accepting_referrals_new TO accepting_referrals")


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _swap_on_sqlite("BOOLEAN", "accepting_referrals")
    else:
        op.alter_column("centers", "accepting_referrals", existing_type=sa.Boolean(), nullable=True)
    op.execute("UPDATE centers SET accepting_referrals = NULL WHERE center_edited_at IS NULL")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _swap_on_sqlite("BOOLEAN NOT NULL DEFAULT 1", "coalesce(accepting_referrals, 1)")
    else:
        op.execute("UPDATE centers SET accepting_referrals = true WHERE accepting_referrals IS NULL")
        op.alter_column("centers", "accepting_referrals", existing_type=sa.Boolean(), nullable=False)
