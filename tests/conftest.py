"""Shared fixtures: an app on a real database of its own per test.

By default each test gets a fresh SQLite file. With TEST_DATABASE_URL set to a PostgreSQL
server (e.g. postgresql+psycopg://postgres@127.0.0.1:5432/test), each test gets a fresh
database there instead, named `directory_test_*` (never a user's data), dropped at the end.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, NoReturn

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from jinja2.bccache import Bucket, BytecodeCache
from sqlalchemy import URL, Engine, create_engine, make_url, text
from sqlalchemy.orm import Session
from werkzeug.routing import Rule

from directory import create_app, schema
from directory.accounts import passwords
from directory.extensions import db
from directory.sources import import_file

ROOT = Path(__file__).resolve().parent.parent
SEED_FILE = ROOT / "seeds" / "centers.csv"
SHARED_DATA = ROOT.parent / "shared" / "data"
NSSATS_FILE = SHARED_DATA / "samhsa-nssats-2015" / "directory.csv"
FINDTREATMENT_FILE = SHARED_DATA / "findtreatment-2025-ca" / "residential.csv"


TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
#: Under CI (CI=true) a service the suite needs must be there: its tests fail instead of skipping.
CI = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")


def skip_missing_service(reason: str) -> NoReturn:
    """Skip a test whose service (PostGIS, Redis, Chromium, axe-core) is missing, saying why; under CI,
    fail it instead, so that a run that could not install or start one cannot pass unnoticed."""
    if CI:
        pytest.fail(f"{reason}. CI=true: the suite must run against it; install it (scripts/test.sh)", pytrace=False)
    pytest.skip(reason)


# Argon2's cheapest parameters for the accounts tests make (0.15 s a hash or a sign-in with the
# real ones, hundreds of times a run); from import, for hashes that test modules make as they load.
# Every app `make_app` builds takes the same (tests/auth/test_password_hashing.py checks the real ones).
passwords.use_profile(passwords.TEST_PROFILE)
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


class _ReadyDatabases:
    """PostgreSQL: copies of the migrated database made ahead, on a thread of their own, so a test
    need not wait for its CREATE DATABASE (60-80 ms of the server's work, on the other core)."""

    AHEAD = 2

    def __init__(self, template: str) -> None:
        self.template = template
        self.ready: queue.Queue[str] = queue.Queue(maxsize=self.AHEAD)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._make, name="test-databases", daemon=True)
        self.thread.start()

    def _make(self) -> None:
        while not self.stopping.is_set():
            name = _create_database(self.template)
            while not self.stopping.is_set():
                try:
                    self.ready.put(name, timeout=0.2)
                    break
                except queue.Full:
                    pass

    def take(self) -> str:
        """A fresh copy: one made ahead, or (if the thread has stopped, on an error) one made now."""
        while self.thread.is_alive():
            try:
                return self.ready.get(timeout=0.2)
            except queue.Empty:
                pass
        return _create_database(self.template)

    def stop(self) -> None:
        """Make no more; those made and not taken are in `_created_databases`, to be dropped."""
        self.stopping.set()
        self.thread.join()


_ready_databases: list[_ReadyDatabases] = []


def _fresh_migrated_database() -> str:
    """PostgreSQL: a new copy of the migrated database (`_migrated_database`)."""
    if not _ready_databases:
        _ready_databases.append(_ReadyDatabases(_migrated_database()))
    return _ready_databases[0].take()


_migrated_sqlite: list[Path] = []


def _migrated_sqlite_file() -> Path:
    """SQLite: an empty database file at the newest migration, made once per run, that tests
    copy (as on PostgreSQL: a copy takes well under a millisecond, migrating about 40 ms)."""
    if not _migrated_sqlite:
        path = Path(tempfile.mkdtemp(prefix="directory-tests-")) / "migrated.sqlite3"
        engine = create_engine(f"sqlite:///{path}")
        schema.upgrade(engine)
        engine.dispose()  # closing the last connection writes the journal back into the file
        _migrated_sqlite.append(path)
    return _migrated_sqlite[0]


def sqlite_url(tmp_path: Path, name: str = "test") -> str:
    """A SQLite database for one test on either pass, for tests whose subject is not the database:
    a copy of the migrated file (kept if the test made it already)."""
    path = tmp_path / (name + ".sqlite3")
    if not path.exists():
        shutil.copyfile(_migrated_sqlite_file(), path)
    return f"sqlite:///{path}"


def database_url(tmp_path: Path, name: str = "test", template: str | None = None, *, empty: bool = False) -> str:
    """A fresh database for one test: a SQLite file, or a new PostgreSQL database (from a
    template; by default a copy of an empty migrated one, and with `empty` a blank one)."""
    if not TEST_DATABASE_URL:
        return f"sqlite:///{tmp_path / (name + '.sqlite3')}" if empty else sqlite_url(tmp_path, name)
    name = _create_database(template) if template or empty else _fresh_migrated_database()
    return _server_url(name).render_as_string(hide_password=False)


def _drop_databases(names: list[str]) -> None:
    engine = create_engine(_server_url(), isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for name in names:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def pytest_sessionfinish(session: pytest.Session) -> None:
    for path in _migrated_sqlite:
        shutil.rmtree(path.parent, ignore_errors=True)
    for ready in _ready_databases:
        ready.stop()
    if not _created_databases:
        return
    # Dropped four at a time: a drop mostly waits for the server's disk.
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(_drop_databases, [_created_databases[i::4] for i in range(4)]))


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
            # No mail asking centers to confirm their listings at a test's first request (the
            # embedded sweep's); tests of those mails switch it back on (tests/upkeep/).
            "CONFIRMATION_REQUESTS": False,
            "PASSWORD_HASH_PROFILE": passwords.TEST_PROFILE,
            # One offer of a step at a time, so a test's offers come in a known order; the tests of
            # parallel offers (tests/referrals/test_parallel_offers.py, the fault tests) ask for more.
            "OFFERS_AT_ONCE": 1,
            **config,
        }
    )
    # Each test's app would compile every template it renders anew: they share Jinja's compiled
    # code instead (kept per template name and source, so an edited template compiles again).
    app.jinja_env.bytecode_cache = _COMPILED_TEMPLATES
    with app.app_context():
        if not _at_newest_migration(db.engine):
            schema.upgrade(db.engine)
    return app


_newest_migration: list[str | None] = []


def _at_newest_migration(engine: Engine) -> bool:
    """Whether the database is at the newest migration already, as the copies tests get are:
    reading its revision takes a millisecond, Alembic's upgrade (loading every migration) 30-40."""
    if not _newest_migration:
        _newest_migration.append(schema.head_revision(engine))
    return schema.current_revision(engine) == _newest_migration[0]


class _CompiledTemplates(BytecodeCache):
    """Jinja's compiled templates, in this process's memory."""

    def __init__(self) -> None:
        self.code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        if (code := self.code.get(bucket.key)) is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        self.code[bucket.key] = bucket.bytecode_to_string()


_COMPILED_TEMPLATES = _CompiledTemplates()

_compile_builder = Rule._compile_builder
_compiled_builders: dict[tuple[Any, ...], Any] = {}


def _shared_compile_builder(self: Rule, append_unknown: bool = True) -> Any:
    """Werkzeug compiles Python code to build each URL rule's addresses, for every app: about
    0.1 s an app here, and each test builds its own. The code takes the rule as an argument and
    depends only on its text, host, defaults and converters, so the tests' apps share it."""
    key = (self.rule, self.host, self.subdomain, repr(self.defaults), tuple(self._trace), append_unknown)
    if key not in _compiled_builders:
        _compiled_builders[key] = _compile_builder(self, append_unknown)
    return _compiled_builders[key]


Rule._compile_builder = _shared_compile_builder  # type: ignore[method-assign]


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
        name = _fresh_migrated_database()
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
