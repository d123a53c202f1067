"""Create or upgrade the database schema with Alembic (the migrations live in `migrations/`)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(engine: Engine) -> Config:
    """An Alembic config bound to this engine (no alembic.ini needed)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema up to `revision`; running it again changes nothing.

    At head on PostgreSQL it also adds the PostGIS spatial index if it is missing and PostGIS
    has been installed since migration 0004 ran without it."""
    command.upgrade(alembic_config(engine), revision)
    if revision == "head" and engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            add_postgis_locations(connection)


#: PostgreSQL's spatial index for the radius search: each center's point as a PostGIS geography
#: generated from latitude and longitude (so every write keeps it in step), under a GiST index.
POSTGIS_COLUMN = "location"
POSTGIS_INDEX = "ix_centers_location"


def postgis_available(connection: Connection) -> bool:
    """Whether the server has PostGIS installed (whether or not this database uses it yet)."""
    return connection.execute(text("SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'")).first() is not None


def has_postgis_locations(connection: Connection) -> bool:
    """Whether the centers table has the PostGIS location column (PostgreSQL only)."""
    found = connection.execute(
        text("SELECT 1 FROM information_schema.columns WHERE table_name = 'centers' AND column_name = :column"),
        {"column": POSTGIS_COLUMN},
    ).first()
    return found is not None


def add_postgis_locations(connection: Connection) -> bool:
    """Add the PostGIS location column and its GiST index if PostGIS is installed and they are
    missing; whether the database has them afterwards. Creating the extension needs a role
    allowed to (a superuser, or the owner where PostGIS is trusted)."""
    if has_postgis_locations(connection):
        return True
    if not postgis_available(connection):
        return False
    connection.execute(text("CREATE EXTENSION IF NOT EXISTS postgis"))
    connection.execute(
        text(
            f"ALTER TABLE centers ADD COLUMN {POSTGIS_COLUMN} geography(Point, 4326) GENERATED ALWAYS AS "
            "(ST_SetSRID(ST_MakePoint(longitude, latitude), 4326)::geography) STORED"
        )
    )
    connection.execute(text(f"CREATE INDEX {POSTGIS_INDEX} ON centers USING gist ({POSTGIS_COLUMN})"))
    return True


def drop_postgis_locations(connection: Connection) -> None:
    """Remove the location column and its index (the extension stays: dropping it is the DBA's call)."""
    connection.execute(text(f"DROP INDEX IF EXISTS {POSTGIS_INDEX}"))
    connection.execute(text(f"ALTER TABLE centers DROP COLUMN IF EXISTS {POSTGIS_COLUMN}"))


def downgrade(engine: Engine, revision: str) -> None:
    """Step the schema back down to `revision` ("base" for an empty database)."""
    command.downgrade(alembic_config(engine), revision)


def head_revision(engine: Engine) -> str | None:
    """The newest migration's revision."""
    return ScriptDirectory.from_config(alembic_config(engine)).get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at (None for a database without the schema)."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def is_current(engine: Engine) -> bool:
    """Whether the database is at the newest migration."""
    return current_revision(engine) == head_revision(engine)
