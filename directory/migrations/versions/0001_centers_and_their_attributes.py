"""Centers, their attributes, and the spatial index.

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# On SQLite the radius search uses an R*Tree over each center's point, kept in step with
# the centers table by triggers. Other databases use the (latitude, longitude) index.
SQLITE_RTREE = [
    "CREATE VIRTUAL TABLE center_locations USING rtree(id, min_lat, max_lat, min_lon, max_lon)",
    """CREATE TRIGGER centers_location_insert AFTER INSERT ON centers BEGIN
         INSERT INTO center_locations VALUES (new.id, new.latitude, new.latitude, new.longitude, new.longitude);
       END""",
    """CREATE TRIGGER centers_location_update AFTER UPDATE OF latitude, longitude ON centers BEGIN
         UPDATE center_locations SET min_lat = new.latitude, max_lat = new.latitude,
                                     min_lon = new.longitude, max_lon = new.longitude
         WHERE id = new.id;
       END""",
    """CREATE TRIGGER centers_location_delete AFTER DELETE ON centers BEGIN
         DELETE FROM center_locations WHERE id = old.id;
       END""",
]


def upgrade() -> None:
    op.create_table(
        "centers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("alt_name", sa.String(length=200), nullable=True),
        sa.Column("street1", sa.String(length=200), nullable=True),
        sa.Column("street2", sa.String(length=200), nullable=True),
        sa.Column("city", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=False),
        sa.Column("zip", sa.String(length=5), nullable=False),
        sa.Column("phone", sa.String(length=40), nullable=True),
        sa.Column("intake_phone", sa.String(length=40), nullable=True),
        sa.Column("website", sa.String(length=300), nullable=True),
        sa.Column("latitude", sa.Float(), nullable=False),
        sa.Column("longitude", sa.Float(), nullable=False),
        sa.Column("accepting_referrals", sa.Boolean(), nullable=False),
        sa.Column("beds_available", sa.Integer(), nullable=True),
        sa.Column("detox_stay_days", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=60), nullable=False),
        sa.Column("source_vintage", sa.Integer(), nullable=True),
        sa.Column("last_verified_at", sa.DateTime(), nullable=True),
        sa.Column("center_edited_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_centers")),
        sa.UniqueConstraint("external_id", name=op.f("uq_centers_external_id")),
        sa.UniqueConstraint("slug", name=op.f("uq_centers_slug")),
    )
    op.create_index("ix_centers_latitude_longitude", "centers", ["latitude", "longitude"])
    op.create_index("ix_centers_state_city", "centers", ["state", "city"])
    op.create_table(
        "center_attributes",
        sa.Column("center_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("code", sa.String(length=60), nullable=False),
        sa.ForeignKeyConstraint(
            ["center_id"],
            ["centers.id"],
            name=op.f("fk_center_attributes_center_id_centers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("center_id", "kind", "code", name=op.f("pk_center_attributes")),
    )
    op.create_index("ix_center_attributes_kind_code", "center_attributes", ["kind", "code"])
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_RTREE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("DROP TABLE center_locations")
    op.drop_index("ix_center_attributes_kind_code", table_name="center_attributes")
    op.drop_table("center_attributes")
    op.drop_index("ix_centers_state_city", table_name="centers")
    op.drop_index("ix_centers_latitude_longitude", table_name="centers")
    op.drop_table("centers")
