"""The instance folder: a random secret key made there when SECRET_KEY is not set, and everything
the app writes there (the SQLite database, the mail outbox, the key) readable by its owner only.

These run on a SQLite file in the instance folder whatever TEST_DATABASE_URL says: the files are
the point."""

from __future__ import annotations

import logging
import os
import stat
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest
from flask import Flask

from directory import create_app, instance, schema
from directory.accounts import passwords
from directory.extensions import db
from tests.factories import make_user


@pytest.fixture(autouse=True)
def usual_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No settings from the environment, and the usual umask (files 0644, folders 0755 by default)."""
    for name in ("SECRET_KEY", "REQUIRE_SECRET_KEY", "DATABASE_URL", "MAIL_OUTBOX", "MAIL_SMTP_HOST"):
        monkeypatch.delenv(name, raising=False)
    old = os.umask(0o022)
    yield
    os.umask(old)


def fresh_app(instance_path: Path, **config: object) -> Flask:
    """The app as a default install starts it: no SECRET_KEY; the database and outbox in the instance folder."""
    app = create_app(
        {
            "TESTING": True,
            "WTF_CSRF_ENABLED": False,
            "RATELIMIT_ENABLED": False,
            "PASSWORD_HASH_PROFILE": passwords.TEST_PROFILE,
            **config,
        },
        instance_path=str(instance_path),
    )
    with app.app_context():
        schema.upgrade(db.engine)
    return app


def dispose(app: Flask) -> None:
    with app.app_context():
        db.engine.dispose()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_without_a_secret_key_the_app_makes_a_random_one_and_keeps_it(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="directory")
    key_file = tmp_path / "instance" / "secret_key"
    first = fresh_app(tmp_path / "instance")
    key = first.secret_key
    assert isinstance(key, str) and len(key) == 2 * instance.KEY_BYTES
    assert key_file.read_text().strip() == key
    assert mode(key_file) == 0o600
    made = [r.getMessage() for r in caplog.records if "SECRET_KEY is not set" in r.getMessage()]
    assert made == [f"SECRET_KEY is not set: signing sessions with the random key made now in {key_file} "
                    "(set SECRET_KEY when several machines serve the app)"]  # fmt: skip

    caplog.clear()
    second = fresh_app(tmp_path / "instance")
    assert second.secret_key == key, "a later start reuses the key (sessions survive a restart)"
    assert any(f"random key kept in {key_file}" in r.getMessage() for r in caplog.records)
    assert not any(key in r.getMessage() for r in caplog.records), "the key itself is never logged"

    other = fresh_app(tmp_path / "another-install")
    assert other.secret_key != key
    assert sorted(p.name for p in key_file.parent.iterdir() if "secret" in p.name) == ["secret_key"]
    for app in (first, second, other):
        dispose(app)


def test_a_key_set_in_the_environment_or_the_config_is_used_and_none_is_made(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = fresh_app(tmp_path / "a", SECRET_KEY="from the config mapping")
    assert app.secret_key == "from the config mapping"
    monkeypatch.setenv("SECRET_KEY", "from the environment")
    other = fresh_app(tmp_path / "b")
    assert other.secret_key == "from the environment"
    assert not (tmp_path / "a" / "secret_key").exists() and not (tmp_path / "b" / "secret_key").exists()
    for each in (app, other):
        dispose(each)


def test_require_secret_key_refuses_to_start_without_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REQUIRE_SECRET_KEY", "true")
    with pytest.raises(ValueError, match=r"SECRET_KEY is not set\..*python -c 'import secrets"):
        fresh_app(tmp_path / "instance")
    assert not (tmp_path / "instance" / "secret_key").exists()


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    with ProcessPoolExecutor(8) as pool:
        results = list(pool.map(instance.secret_key, [str(tmp_path)] * 32))
    assert len({key for key, _ in results}) == 1
    assert sum(made for _, made in results) == 1, "exactly one process made the key"
    assert [p.name for p in tmp_path.iterdir()] == ["secret_key"], "no temporary files are left"
    assert mode(tmp_path / "secret_key") == 0o600


def test_a_key_file_without_a_key_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    (tmp_path / "secret_key").write_text("\n")
    with pytest.raises(ValueError, match=r"secret_key holds no usable secret key .*delete the file"):
        instance.secret_key(tmp_path)


def test_nothing_the_app_writes_in_its_instance_folder_is_readable_by_others(tmp_path: Path) -> None:
    """A fresh start, then a start over files an earlier version left with the usual permissions."""
    for folder in (tmp_path / "fresh", tmp_path / "earlier"):
        if folder.name == "earlier":
            (folder / "outbox").mkdir(parents=True, mode=0o755)
            folder.chmod(0o755)
            (folder / "outbox" / "old.eml").write_text("Subject: old\n")
            (folder / "directory.sqlite3").touch(mode=0o644)
            (folder / "secret_key").write_text("k" * 64)
            (folder / "secret_key").chmod(0o644)
        app = fresh_app(folder)
        assert app.config["DATABASE_URL"] == f"sqlite:///{folder / 'directory.sqlite3'}"
        assert app.config["MAIL_OUTBOX"] == str(folder / "outbox")
        with app.app_context():
            make_user(db.session, email="someone@example.org")
            db.session.commit()
        client = app.test_client()
        # A password reset: a row in the database (its -wal file) and a mail with the live link in the outbox.
        assert client.post("/password/forgot", data={"email": "someone@example.org"}).status_code in (200, 302)
        written = sorted(p.name for p in folder.rglob("*"))
        assert {"directory.sqlite3", "directory.sqlite3-wal", "directory.sqlite3-shm", "outbox", "secret_key"} <= set(
            written
        )
        assert any(name.endswith(".eml") and name != "old.eml" for name in written), written
        # A message an earlier version wrote keeps its permissions, in a folder no one else can enter.
        old = folder / "outbox" / "old.eml"
        paths = [p for p in [folder, *folder.rglob("*")] if p != old]
        readable = [f"{p.relative_to(folder)} {mode(p):o}" for p in paths if mode(p) & 0o077]
        assert not readable, f"{folder.name}: readable by group or others: {readable}"
        dispose(app)


def test_an_outbox_outside_the_instance_folder_keeps_its_permissions_but_not_its_messages(tmp_path: Path) -> None:
    """MAIL_OUTBOX may name a folder shared with other programs: the app never narrows it, but
    every message it writes there is its owner's only."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o755)
    app = fresh_app(tmp_path / "instance", MAIL_OUTBOX=str(shared))
    with app.app_context():
        app.extensions["mailer"].send("someone@example.org", "Reset your password", "https://example.org/reset/x")
    assert mode(shared) == 0o755
    (message,) = shared.iterdir()
    assert mode(message) == 0o600
    dispose(app)
