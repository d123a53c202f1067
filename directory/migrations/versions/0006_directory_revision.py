"""A directory revision: one number that changes whenever a center or its attributes change.

Search results are cached in each web process (directory/search/cache.py) under the revision
they were computed at, and every search reads the number first: a cached result from an older
revision is never served, whichever process or connection made the change (an import, a portal
edit, a capacity update, a deletion, raw SQL). Database triggers bump it in the transaction that
changes `centers` or `center_attributes`, so the new number becomes visible together with the
change, at commit.

On PostgreSQL the triggers are statement-level, and bump at most once per transaction (a flag in
a transaction-local setting), so an import of a million rows updates the row once, not a million
times. On SQLite (one writer at a time) they are row-level: SQLite has no statement triggers.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLES = ("centers", "center_attributes")
OPERATIONS = ("insert", "update", "delete")
BUMP = "UPDATE directory_revision SET revision = revision + 1 WHERE id = 1"

POSTGRESQL_FUNCTION = f"""
CREATE FUNCTION bump_directory_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('directory.revision_bumped', true) IS DISTINCT FROM 'on' THEN
        {BUMP};
        PERFORM set_config('directory.revision_bumped', 'on', true);
    END IF;
    RETURN NULL;
END $$
"""


def upgrade() -> None:
    op.create_table(
        "directory_revision",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_directory_revision_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_directory_revision")),
    )
    op.execute("INSERT INTO directory_revision (id, revision) VALUES (1, 1)")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRESQL_FUNCTION)
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_bump_directory_revision AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION bump_directory_revision()"
            )
    else:
        for table in TABLES:
            for operation in OPERATIONS:
                op.execute(
                    f"CREATE TRIGGER {table}_{operation}_bumps_directory_revision AFTER {operation.upper()} "
                    f"ON {table} BEGIN {BUMP}; END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_bump_directory_revision ON {table}")
        op.execute("DROP FUNCTION IF EXISTS bump_directory_revision()")
    else:
        for table in TABLES:
            for operation in OPERATIONS:
                op.execute(f"DROP TRIGGER IF EXISTS {table}_{operation}_bumps_directory_revision")
    op.drop_table("directory_revision")
