"""SQLite: each search row's latitude band, and an index that counts a search's matches band by band.

At this revision the radius search on SQLite (directory/search/engine.py; 0013 removes it and
this index) counts the centers certainly inside the circle without measuring them. Through the
R*Tree (0001), SQLite hands the count its entries one at a time through a virtual table and,
with a filter, looks each one up in `center_search_rows` for its mask: about 0.3 microseconds
per center, 10-15 ms for the largest searches at a million centers. This index holds what the
count reads: each row's latitude band (a slice of 1/BANDS_PER_DEGREE of a degree), longitude,
latitude and filter mask. A search seeks each band the circle crosses to the longitudes it may
hold and reads the entries in order, never the table. The band is a generated column, so the
triggers of 0007 keep it in step. PostgreSQL has its GiST index (0009); nothing changes there.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

#: directory/search/engine.py's BANDS_PER_DEGREE (a test holds them equal).
BANDS_PER_DEGREE = 20
COLUMN = "band"
INDEX = "ix_center_search_rows_band"


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    # CAST truncates towards zero; every latitude is at least -90, so this is the floor.
    op.execute(
        f"ALTER TABLE center_search_rows ADD COLUMN {COLUMN} INTEGER"
        f" GENERATED ALWAYS AS (CAST(latitude * {BANDS_PER_DEGREE} + {90 * BANDS_PER_DEGREE} AS INTEGER)) VIRTUAL"
    )
    op.execute(f"CREATE INDEX {INDEX} ON center_search_rows ({COLUMN}, longitude, latitude, mask)")
    op.execute("ANALYZE center_search_rows")


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute(f"ALTER TABLE center_search_rows DROP COLUMN {COLUMN}")
