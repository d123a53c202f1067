"""The language of an account (`users.language`, "en" or "es"; null is unknown, mailed in English):
the notices the worker mails go out in it.

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-15
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("users", sa.Column("language", sa.String(5), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "language")
