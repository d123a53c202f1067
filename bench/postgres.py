"""The benchmark databases on PostgreSQL: copies of the SQLite ones, row for row (same ids).

Each copy is made by the app's own migrations (so it has the PostGIS column and its GiST
index), named `directory_bench_<key>` and kept for later runs.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import sqlalchemy
from sqlalchemy import URL, create_engine, make_url, text

from directory import schema

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
#: Tables copied from the SQLite database, in this order (foreign keys).
TABLES = ("centers", "center_attributes")


def server_url(url: str, database: str) -> URL:
    return make_url(url).set(database=database)


def reachable(url: str) -> str | None:
    """None if the server answers and has PostGIS, else why not."""
    try:
        engine = create_engine(url)
        with engine.connect() as connection:
            if not schema.postgis_available(connection):
                return "PostGIS is not installed on the server (Debian: postgresql-15-postgis-3)"
        engine.dispose()
    except sqlalchemy.exc.OperationalError as error:
        return f"the server does not answer ({type(error.orig).__name__})"
    return None


def postgres_copy(url: str, sqlite_path: Path, log: Callable[[str], None]) -> str:
    """A PostgreSQL database holding exactly the rows of the SQLite benchmark database (built once)."""
    name = "directory_bench_" + sqlite_path.stem.replace("-", "_")
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        state = connection.execute(
            text("SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = :name"), {"name": name}
        ).first()
        if state is not None and state[0] == "complete":
            admin.dispose()
            return name
        # Copies of earlier builds of the same database (another cache key) are stale: drop them.
        family = name.rsplit("_", 1)[0] + "_"
        stale = connection.scalars(
            text("SELECT datname FROM pg_database WHERE starts_with(datname, :family)"), {"family": family}
        ).all()
        for old in stale:
            log(f"Dropping the stale PostgreSQL copy {old}")
            connection.execute(text(f'DROP DATABASE "{old}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    log(f"Copying {sqlite_path.name} into PostgreSQL database {name} ...")
    started = time.perf_counter()
    engine = create_engine(server_url(url, name))
    schema.upgrade(engine)
    source = sqlite3.connect(sqlite_path)
    with engine.begin() as connection:
        raw = connection.connection.driver_connection
        with raw.cursor() as cursor:
            # Build the GiST index once at the end, not row by row.
            cursor.execute(f"DROP INDEX {schema.POSTGIS_INDEX}")
            for table in TABLES:
                columns = [row[1] for row in source.execute(f"PRAGMA table_info({table})")]
                sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
                with cursor.copy(sql) as copy:
                    rows = source.execute(f"SELECT {', '.join(columns)} FROM {table}")
                    while batch := rows.fetchmany(50_000):
                        for row in batch:
                            copy.write_row(row)
                log(f"  {table}: copied, {time.perf_counter() - started:.0f} s")
            cursor.execute(f"CREATE INDEX {schema.POSTGIS_INDEX} ON centers USING gist ({schema.POSTGIS_COLUMN})")
            cursor.execute("SELECT setval(pg_get_serial_sequence('centers', 'id'), (SELECT max(id) FROM centers))")
    source.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("VACUUM ANALYZE centers"))
        connection.execute(text("VACUUM ANALYZE center_attributes"))
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f"COMMENT ON DATABASE \"{name}\" IS 'complete'"))
    admin.dispose()
    log(f"  done in {time.perf_counter() - started:.0f} s")
    return name
