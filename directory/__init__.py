"""The treatment-center directory: a Flask app for finding addiction treatment near a person."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.middleware.proxy_fix import ProxyFix

from directory import instance
from directory.accounts import passwords
from directory.celery_app import celery_init_app
from directory.config import from_environment
from directory.extensions import csrf, db, limiter
from directory.i18n import init_i18n
from directory.mail import make_mailer
from directory.ops import init_ops
from directory.referrals.dispatch import check_routing_settings, init_embedded_sweep, init_notifications
from directory.request_guards import init_request_guards
from directory.search.geocoding import make_geocoder
from directory.security import init_security
from directory.urls import IdConverter


def create_app(config: Mapping[str, Any] | None = None, *, instance_path: str | None = None) -> Flask:
    """Build the app: settings from the environment, then `config` (tests pass a mapping, and may
    give an instance folder other than the project's `instance/`)."""
    app = Flask(__name__, instance_path=instance_path, instance_relative_config=True)
    app.config.update(from_environment(app.instance_path))
    if config:
        app.config.update(config)
    init_instance_folder(app)
    app.config["SQLALCHEMY_ENGINES"] = {"default": app.config["DATABASE_URL"]}
    if hops := app.config["TRUST_PROXY_HOPS"]:
        # Client address and scheme from the proxy, so rate limits and HSTS see the real ones.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    register_extensions(app)
    register_url_converters(app)
    register_blueprints(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def register_extensions(app: Flask) -> None:
    init_ops(app)
    init_secret_key(app)
    init_database(app)
    init_i18n(app)
    csrf.init_app(app)
    limiter.init_app(app)
    init_request_guards(app)
    init_security(app)
    app.extensions["mailer"] = make_mailer(app.config)
    check_routing_settings(app)
    celery_init_app(app)
    init_embedded_sweep(app)
    init_notifications(app)
    app.extensions["geocoder"] = make_geocoder(
        app.config["GEOCODER"],
        user_agent=app.config["NOMINATIM_USER_AGENT"],
        domain=app.config["NOMINATIM_DOMAIN"],
    )
    init_password_hashing(app)


def init_instance_folder(app: Flask) -> None:
    """The instance folder, and the mail outbox folder if it lies inside it, readable by their
    owner only (an outbox elsewhere keeps its permissions; its files are its owner's only)."""
    instance.make_private_folder(app.instance_path)
    outbox = Path(app.config["MAIL_OUTBOX"]).resolve()
    if outbox.is_dir() and outbox.is_relative_to(Path(app.instance_path).resolve()):
        instance.make_private_folder(outbox)


def init_secret_key(app: Flask) -> None:
    """SECRET_KEY as set; else, unless REQUIRE_SECRET_KEY, the random key kept in the instance folder."""
    if app.config["SECRET_KEY"]:
        return
    if app.config["REQUIRE_SECRET_KEY"]:
        raise ValueError(MISSING_SECRET_KEY)
    key, made = instance.secret_key(app.instance_path)
    app.config["SECRET_KEY"] = key
    where = os.path.join(app.instance_path, instance.KEY_FILE)
    app.logger.info(
        "SECRET_KEY is not set: signing sessions with the random key %s %s (set SECRET_KEY when "
        "several machines serve the app)",
        "made now in" if made else "kept in",
        where,
    )


#: Why the app refuses to start where REQUIRE_SECRET_KEY is set (the production image) and
#: SECRET_KEY is not, and what to do.
MISSING_SECRET_KEY = (
    "SECRET_KEY is not set. It signs sessions and form tokens: set it to a long random value, "
    f"the same for every process of the site, e.g. the output of {instance.MAKE_A_KEY} "
    "(in .env for docker compose)."
)


def init_password_hashing(app: Flask) -> None:
    """Hash new passwords with the configured Argon2 profile; the test suite's cheap one only when testing."""
    profile = app.config["PASSWORD_HASH_PROFILE"]
    if profile == passwords.TEST_PROFILE and not app.testing:
        raise ValueError(
            f"PASSWORD_HASH_PROFILE={profile} is for test suites only (TESTING): "
            f"leave it unset for {passwords.DEFAULT_PROFILE}."
        )
    passwords.use_profile(profile)
    passwords.verify_password(None, "")  # the unknown-email check's hash made now, not at the first sign-in


def init_database(app: Flask) -> None:
    """Bind `db` (a SQLite file readable by its owner only), less the async-session teardown
    Flask-SQLAlchemy-Lite always adds.

    The app has no async sessions, and Flask runs an async teardown through asgiref, which starts
    a thread at the end of every request and task (0.5 ms of CPU each: half of /healthz's time).
    """
    instance.make_sqlite_database_private(app.config["DATABASE_URL"])
    db.init_app(app)
    if not app.config.get("SQLALCHEMY_ASYNC_ENGINES"):
        app.teardown_appcontext_funcs[:] = [
            f for f in app.teardown_appcontext_funcs if getattr(f, "__name__", "") != "_close_async_sessions"
        ]


def register_url_converters(app: Flask) -> None:
    app.url_map.converters["int"] = IdConverter


def register_blueprints(app: Flask) -> None:
    """Register each area's blueprint; its route modules add their views to it as they are imported."""
    from directory.admin import views as admin
    from directory.api import referrals  # noqa: F401  (the referral API, on api.bp)
    from directory.api import views as api
    from directory.auth import views as auth
    from directory.fhir import views as fhir
    from directory.hsds import views as hsds
    from directory.ops import views as ops
    from directory.portal import offers  # noqa: F401  (offers to a center, on portal.bp)
    from directory.portal import views as portal
    from directory.public import helpers  # noqa: F401  (template helpers, on public.bp)
    from directory.public import views as public
    from directory.staff import views as staff

    app.register_blueprint(public.bp)
    app.register_blueprint(auth.bp)
    app.register_blueprint(portal.bp, url_prefix="/portal")
    app.register_blueprint(admin.bp, url_prefix="/admin")
    app.register_blueprint(staff.bp, url_prefix="/referrals")
    app.register_blueprint(api.bp, url_prefix="/api/v1")
    app.register_blueprint(fhir.bp, url_prefix="/fhir/r4")
    app.register_blueprint(hsds.bp, url_prefix="/hsds")
    app.register_blueprint(ops.bp)
    csrf.exempt(api.bp)


def register_errorhandlers(app: Flask) -> None:
    from directory.errors import register

    register(app)


def register_commands(app: Flask) -> None:
    from directory.cli import api_tokens_cli, centers_cli, init_db_command, users_cli

    app.cli.add_command(init_db_command)
    app.cli.add_command(centers_cli)
    app.cli.add_command(users_cli)
    app.cli.add_command(api_tokens_cli)


@event.listens_for(Engine, "connect")
def _connection_settings(dbapi_connection: Any, _record: Any) -> None:
    """Settings of every new database connection.

    SQLite: enforce foreign keys; write-ahead log, so readers never wait for the writer;
    `synchronous=NORMAL`, SQLite's advice for WAL: a commit does not wait for a disk flush
    (4-12 ms here, with the write lock held), and a crash of the app loses nothing, though a
    power cut can lose the last commits (never corrupt the file; production runs PostgreSQL,
    docs/deploying.md); and reads through memory-mapped I/O, up to 1 GiB of the file (no copy
    per page read); and keeps temporary data in memory (`temp_store=MEMORY`): each write to
    `centers` runs the R*Tree's row triggers, so SQLite saves the pages each statement changes
    in a statement journal, which by default goes to a temporary file past 64 KiB."""
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA mmap_size=1073741824")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.close()
    elif type(dbapi_connection).__module__.startswith("psycopg"):
        # PostgreSQL's JIT compiles a query whose estimated cost is high, and a wide radius
        # search's estimate is: tenths of a second of compiling for a query that runs in less.
        # The app's queries are short; compiling never pays.
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET jit = off")
        dbapi_connection.commit()
