"""PostgreSQL: statistics on (kind, code) of center attributes taken together.

A code belongs to one kind, so the planner's default guess (kind and code independent)
underestimates a filter like medical detox by 7x at a million centers, and it then starts
from the filter instead of the spatial index: 1.8 s instead of 0.2 s for a 50-mile pathway
search. Extended statistics give it the joint frequencies.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE STATISTICS IF NOT EXISTS center_attributes_kind_code (dependencies, mcv) "
            "ON kind, code FROM center_attributes"
        )
        op.execute("ANALYZE center_attributes")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP STATISTICS IF EXISTS center_attributes_kind_code")
