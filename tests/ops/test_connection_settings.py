"""Every database connection the app opens gets its settings (directory._connection_settings)."""

from __future__ import annotations

from directory.extensions import db


def test_every_connection_gets_the_apps_settings(app):
    with app.app_context(), db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            pragma = lambda name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()  # noqa: E731
            assert pragma("foreign_keys") == 1
            assert pragma("journal_mode") == "wal"
            assert pragma("synchronous") == 1  # NORMAL
            assert pragma("mmap_size") == 1 << 30
            assert pragma("temp_store") == 2  # MEMORY: statement journals of trigger writes stay off disk
        else:
            assert connection.exec_driver_sql("SHOW jit").scalar() == "off"
