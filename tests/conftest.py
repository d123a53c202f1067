"""Shared fixtures: an app on a real database (a fresh SQLite file per test by default).

Set TEST_DATABASE_URL to run against another database.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from directory import create_app, schema
from directory.extensions import db
from directory.sources import import_file

ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = ROOT / "seeds" / "centers.csv"
SHARED_DATA = ROOT.parent / "shared" / "data"
NSSATS_FILE = SHARED_DATA / "samhsa-nssats-2015" / "directory.csv"
FINDTREATMENT_FILE = SHARED_DATA / "findtreatment-2025-ca" / "residential.csv"


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
    app = make_app(f"sqlite:///{tmp_path / 'test.sqlite3'}", MAIL_OUTBOX=str(tmp_path / "outbox"))
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
def seeded_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A database file holding the whole nationwide seed directory, built once per run."""
    path = tmp_path_factory.mktemp("seeded") / "seeded.sqlite3"
    app = make_app(f"sqlite:///{path}")
    with app.app_context():
        report = import_file(db.session, SEED_FILE, "centers")
        assert report.written and report.invalid_rows == 0, report.issues[:5]
        db.engine.dispose()
    return path


@pytest.fixture
def seeded_app(seeded_database: Path, tmp_path: Path) -> Iterator[Flask]:
    """An app on a private copy of the seeded database (tests may change it)."""
    path = tmp_path / "seeded.sqlite3"
    shutil.copy(seeded_database, path)
    app = make_app(f"sqlite:///{path}", MAIL_OUTBOX=str(tmp_path / "outbox"))
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
    return f"database: {os.environ.get('TEST_DATABASE_URL', 'SQLite (a fresh file per test)')}"
