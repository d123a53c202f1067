"""PostgreSQL: each center's point as a PostGIS geography, with a GiST index for radius search.

The production path for the radius search on PostgreSQL (see directory.schema). The column is
generated from latitude and longitude, so every write (imports, the portal, raw SQL) keeps it
in step. Where the server has no PostGIS this says so and changes nothing; migration 0013,
which the search needs, then stops until PostGIS is installed. SQLite has its R*Tree (0001).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

import logging

from alembic import op

from directory.schema import add_postgis_locations, drop_postgis_locations

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and not add_postgis_locations(bind):
        logging.getLogger("alembic.runtime.migration").warning(
            "PostGIS is not installed on this PostgreSQL server: migration 0013 stops until it is. "
            "Install PostGIS (Debian: postgresql-15-postgis-3) and run `flask --app directory init-db` again."
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        drop_postgis_locations(op.get_bind())
