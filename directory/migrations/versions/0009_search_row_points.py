"""PostgreSQL: each search row's point as a native `point`, with a GiST index that answers the search alone.

The radius search on PostgreSQL counts the centers certainly inside the circle in SQL and
measures only those near its edge and near its centre (directory/search/postgres.py). It reads
`center_search_rows` through this index: a GiST over `lon_lat` (x = longitude, y = latitude,
the same float8 values as the row's latitude and longitude) that also carries each row's
`center_id` and filter `mask` (INCLUDE), so a search is an index-only scan of narrow entries,
never the wide `centers` rows. The column is generated from latitude and longitude, so the
triggers of 0007 keep it in step with every write. It needs no PostGIS. SQLite has its R*Tree
(0001); nothing changes there.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-21
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

COLUMN = "lon_lat"
INDEX = "ix_center_search_rows_lon_lat"


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        f"ALTER TABLE center_search_rows ADD COLUMN {COLUMN} point"
        " GENERATED ALWAYS AS (point(longitude, latitude)) STORED"
    )
    op.execute(f"CREATE INDEX {INDEX} ON center_search_rows USING gist ({COLUMN}) INCLUDE (center_id, mask)")
    op.execute("ANALYZE center_search_rows")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(f"DROP INDEX IF EXISTS {INDEX}")
    op.execute(f"ALTER TABLE center_search_rows DROP COLUMN IF EXISTS {COLUMN}")
