"""PostgreSQL: the search-row triggers of 0007 plan their statement each time they run.

A PL/pgSQL function keeps the plan it made the first time for a statement without parameters,
such as the ones 0007's statement triggers run over their transition tables, for the rest of
the session (until an ANALYZE or a change of schema). An import into an empty directory
plans them in its first batch, while `center_attributes` and `center_search_rows` are nearly
empty, with sequential scans, and every later batch of the same import then scans the whole
table: importing the seed file took 110-136 s instead of 11 s (its batches written as one
statement per table; 80 s as one statement per row), and the time grows with the square of
the file's length. The same holds
for any connection that first ran them on a small directory. Run through `EXECUTE`, each
statement is planned for the tables as they are, so it looks up by index once they are
large. Planning costs about half a millisecond per statement, which matters only to writers
that send one statement per row (the ORM's flushes; the importer writes a batch at once).
The statements themselves are 0007's, unchanged; SQLite (row triggers, no cached plans) is
not touched.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-21
"""

from alembic import context, op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def _statements_of_0007() -> dict[str, str]:
    """The body of each of 0007's trigger functions, by function name."""
    module = context.script.get_revision("0007").module
    return {name: body for name, (_, body) in module.POSTGRESQL.items()}


def _replace_function(name: str, body: str) -> None:
    op.execute(
        f"CREATE OR REPLACE FUNCTION {name}() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN {body}; RETURN NULL; END $$"
    )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, body in _statements_of_0007().items():
            _replace_function(name, f"EXECUTE $statement$ {body} $statement$")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, body in _statements_of_0007().items():
            _replace_function(name, body)
