"""Referrals for alcohol use disorder, opioid use disorder, or both: `referrals.opioid_use_disorder`
(true for every referral made before, all of them for opioids) beside `alcohol_use_disorder`;
`recent_opioid_use`, the answer to "any opioid use in the last 10 days?" asked when the referral is
for alcohol alone; and `primary_opioid` and `last_opioid_use` may be null (alcohol alone).

SQLite cannot drop a NOT NULL in place, and a copy of `referrals` (Alembic's batch mode) would
delete, through their foreign keys, its offers, timeline and outbox rows: each column is swapped for
a new one with ADD, DROP and RENAME COLUMN instead, as 0015 does for centers. Down again is refused
while a referral has no opioid facts: migration 0019's schema cannot hold it.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-14
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

#: Each opioid fact: its type, its SQLite definition, and the default SQLite needs to add it NOT NULL.
OPIOID_FACTS = {
    "primary_opioid": (sa.String(20), "VARCHAR(20)", "''"),
    "last_opioid_use": (sa.DateTime(), "DATETIME", "'1970-01-01 00:00:00.000000'"),
}


def _swap_on_sqlite(column: str, definition: str) -> None:
    op.execute(f"ALTER TABLE referrals ADD COLUMN {column}_new {definition}")
    op.execute(f"UPDATE referrals SET {column}_new = {column}")
    op.execute(f"ALTER TABLE referrals DROP COLUMN {column}")
    op.execute(f"ALTER TABLE referrals RENAME COLUMN {column}_new TO {column}")


def upgrade() -> None:
    op.add_column("referrals", sa.Column("opioid_use_disorder", sa.Boolean(), nullable=False, server_default=sa.true()))
    op.add_column("referrals", sa.Column("recent_opioid_use", sa.String(10), nullable=True))
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column, (type_, definition, _) in OPIOID_FACTS.items():
        if sqlite:
            _swap_on_sqlite(column, definition)
        else:
            op.alter_column("referrals", column, existing_type=type_, nullable=True)


def downgrade() -> None:
    without = op.get_bind().scalar(
        sa.text("SELECT count(*) FROM referrals WHERE primary_opioid IS NULL OR last_opioid_use IS NULL")
    )
    if without:
        raise RuntimeError(
            f"{without} referrals have no primary opioid or last opioid use (alcohol use disorder alone); "
            "migration 0019's schema cannot hold them. Delete or complete them before going down."
        )
    sqlite = op.get_bind().dialect.name == "sqlite"
    for column, (type_, definition, default) in OPIOID_FACTS.items():
        if sqlite:  # SQLite adds a NOT NULL column only with a default; no row takes it
            _swap_on_sqlite(column, f"{definition} NOT NULL DEFAULT {default}")
        else:
            op.alter_column("referrals", column, existing_type=type_, nullable=False)
    op.drop_column("referrals", "recent_opioid_use")
    op.drop_column("referrals", "opioid_use_disorder")
