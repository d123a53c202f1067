"""Drop what the radius search no longer reads; PostgreSQL needs PostGIS.

The search narrows candidates with SQLite's R*Tree (0001) or PostGIS's GiST over
`centers.location` (0004) and filters on `center_attributes`. This drops the directory
revision and its triggers (0006), the trigger-maintained search rows with their filter bits
(0007, 0008), their point GiST (0009) and latitude bands (0011), and the
(latitude, longitude) index of `centers`. On PostgreSQL it adds the PostGIS location column
where 0004 could not, and stops with what to install if PostGIS is missing. The downgrade
rebuilds everything from the centers as they are.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from alembic import context, op

from directory.schema import add_postgis_locations

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

LATITUDE_LONGITUDE_INDEX = "ix_centers_latitude_longitude"


def _migration(name: str):  # noqa: ANN202 - an Alembic migration module
    return context.script.get_revision(name).module


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name == "postgresql" and not add_postgis_locations(bind):
        raise RuntimeError(
            "The radius search on PostgreSQL needs PostGIS, which this server does not have: install it "
            "(Debian: apt-get install postgresql-15-postgis-3) and run `flask --app directory init-db` again."
        )
    _migration("0007").downgrade()  # its triggers, the search rows (with 0009's and 0011's columns) and filter bits
    _migration("0006").downgrade()
    op.drop_index(LATITUDE_LONGITUDE_INDEX, table_name="centers")


def downgrade() -> None:
    op.create_index(LATITUDE_LONGITUDE_INDEX, "centers", ["latitude", "longitude"])
    for name in ("0006", "0007", "0008", "0009", "0011"):
        _migration(name).upgrade()
