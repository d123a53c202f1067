"""Shared fixtures: an app on a real database of its own per test.

By default each test gets a fresh SQLite file. With TEST_DATABASE_URL set to a PostgreSQL
server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test), each test gets a fresh
database there instead, named `directory_test_*` (never a user's data), dropped at the end.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import URL, create_engine, make_url, text
from sqlalchemy.orm import Session

from directory import create_app, schema
from directory.extensions import db
from directory.sources import import_file

ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = ROOT / "seeds" / "centers.csv"
SHARED_DATA = ROOT.parent / "shared" / "data"
NSSATS_FILE = SHARED_DATA / "samhsa-nssats-2015" / "directory.csv"
FINDTREATMENT_FILE = SHARED_DATA / "findtreatment-2025-ca" / "residential.csv"


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
_created_databases: list[str] = []


def _server_url(name: str = "postgres") -> URL:
    return make_url(TEST_DATABASE_URL).set(database=name)


def _create_database(template: str | None = None) -> str:
    name = f"directory_test_{uuid.uuid4().hex[:12]}"
    engine = create_engine(_server_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    engine.dispose()
    _created_databases.append(name)
    return name


_migrated_template: list[str] = []


def _migrated_database() -> str:
    """PostgreSQL: an empty database at the newest migration, made once per run, that tests copy
    (copying is faster than migrating each one, above all creating the PostGIS extension)."""
    if not _migrated_template:
        name = _create_database()
        engine = create_engine(_server_url(name))
        schema.upgrade(engine)
        engine.dispose()
        _migrated_template.append(name)
    return _migrated_template[0]


def database_url(tmp_path: Path, name: str = "test", template: str | None = None, *, empty: bool = False) -> str:
    """A fresh database for one test: a SQLite file, or a new PostgreSQL database (from a
    template; by default a copy of an empty migrated one, and with `empty` a blank one)."""
    if not TEST_DATABASE_URL:
        return f"sqlite:///{tmp_path / (name + '.sqlite3')}"
    template = template or (None if empty else _migrated_database())
    return _server_url(_create_database(template)).render_as_string(hide_password=False)


def pytest_sessionfinish(session: pytest.Session) -> None:
    if not _created_databases:
        return
    engine = create_engine(_server_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in _created_databases:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def make_app(database_url: str, **config: object) -> Flask:
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test",
            "DATABASE_URL": database_url,
            "GEOCODER": "offline",
            # Form posts in tests carry no CSRF token and sign in often; tests of CSRF
            # protection and rate limits switch these back on (see tests/security/).
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            **config,
        }
    )
    with app.app_context():
        schema.upgrade(db.engine)
    return app


@pytest.fixture
def app(tmp_path: Path) -> Iterator[Flask]:
    """An app with an empty, migrated database of its own."""
    app = make_app(database_url(tmp_path), MAIL_OUTBOX=str(tmp_path / "outbox"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A database session of the test's own, with no app context held open.

    Were an app context held open, Flask would run every test request inside it: all requests
    would share one `g`, where Flask-Login keeps the signed-in user, so a second client (or a
    cookie that should no longer work) would look signed in. Here each request gets a fresh
    app context, as in production. Call `session.expire_all()` before reading what a request changed.
    """
    with app.app_context():
        engine = db.engine
    with Session(engine) as own:
        yield own


@pytest.fixture(scope="session")
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The whole nationwide seed directory, imported once per run: a SQLite file's path, or the
    name of a PostgreSQL database that tests copy as a template."""
    if TEST_DATABASE_URL:
        name = _create_database(_migrated_database())
        url = _server_url(name).render_as_string(hide_password=False)
    else:
        name = str(tmp_path_factory.mktemp("seeded") / "seeded.sqlite3")
        url = f"sqlite:///{name}"
    app = make_app(url)
    with app.app_context():
        report = import_file(db.session, SEED_FILE, "centers")
        assert report.written and report.invalid_rows == 0, report.issues[:5]
        db.engine.dispose()
    return name


def seeded_url(seeded_database: str) -> str:
    """The URL of the seeded database itself (read it, don't change it)."""
    if TEST_DATABASE_URL:
        return _server_url(seeded_database).render_as_string(hide_password=False)
    return f"sqlite:///{seeded_database}"


def copy_of_seeded(seeded_database: str, tmp_path: Path) -> str:
    """A private copy of the seeded database for one test."""
    if TEST_DATABASE_URL:
        return database_url(tmp_path, template=seeded_database)
    path = tmp_path / "seeded.sqlite3"
    shutil.copy(seeded_database, path)
    return f"sqlite:///{path}"


@pytest.fixture
def seeded_app(seeded_database: str, tmp_path: Path) -> Iterator[Flask]:
    """An app on a private copy of the seeded database (tests may change it)."""
    app = make_app(copy_of_seeded(seeded_database, tmp_path), MAIL_OUTBOX=str(tmp_path / "outbox"))
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def seeded_client(seeded_app: Flask) -> FlaskClient:
    return seeded_app.test_client()


@pytest.fixture
def seeded_session(seeded_app: Flask) -> Iterator[Session]:
    """Like `session`, on the nationwide seed."""
    with seeded_app.app_context():
        engine = db.engine
    with Session(engine) as own:
        yield own


def pytest_report_header() -> str:
    if TEST_DATABASE_URL:
        return f"database: a fresh PostgreSQL database per test on {make_url(TEST_DATABASE_URL).host}"
    return "database: SQLite (a fresh file per test)"


@pytest.fixture
def redis_url(tmp_path) -> Iterator[str]:
    """A private redis-server on a free port for this test (skips, saying why, if Redis is not installed)."""
    from tests.integration.services import start_redis

    server = start_redis(tmp_path)
    yield server.url
    server.stop()
