"""The directory revision: one number that changes whenever a center or its attributes change.

Triggers bump it in the transaction of any change to `centers` or `center_attributes`
(migration 0006), so a new number becomes visible together with the change, at commit. What a
process keeps of the directory (the results cache, cache.py; the search rows in memory,
memory.py) is kept under the revision it was read at, and is not used at any other.
"""

from __future__ import annotations

import os
import threading
import weakref
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.orm import Session

from directory.search.statements import fetch_all

#: The one-row table of migration 0006 (only its triggers write it).
READ_REVISION = "SELECT revision FROM directory_revision WHERE id = 1"


def read_directory_revision(session: Session) -> int:
    """The directory's revision as the session sees it: it changes whenever a center or its
    attributes do (in the session's transaction, its own uncommitted changes count).

    Read straight through the DBAPI connection: a third of the cost of a SQLAlchemy statement."""
    return read_revision(session.connection().connection)


def read_committed_revision(session: Session) -> int:
    """The directory's revision as last committed, read by the engine's `CommittedRevisionReader`
    (made the first time): the session's own transaction is not begun, so a search answered
    from the cache or from the copy of the search rows opens none, and costs little more than
    this read."""
    engine = session.get_bind().engine
    reader = _readers.get(engine)
    if reader is None:
        with _readers_lock:
            reader = _readers.get(engine)
            if reader is None:
                reader = _readers[engine] = CommittedRevisionReader(engine)
                event.listen(engine, "engine_disposed", _disposed)
    return reader.read()


_readers: weakref.WeakKeyDictionary[Engine, CommittedRevisionReader] = weakref.WeakKeyDictionary()
_readers_lock = threading.Lock()


def _disposed(engine: Engine) -> None:
    """The engine's pool was emptied (`Engine.dispose`): so are its reader's connections."""
    if (reader := _readers.get(engine)) is not None:
        reader.close()


def read_revision(connection: Any) -> int:
    """The revision read through a DBAPI connection (sqlite3, psycopg, ...), in its transaction if it has one."""
    rows = fetch_all(connection, READ_REVISION)
    row = rows[0] if rows else None
    if row is None:
        raise LookupError("The directory_revision row is missing: run `flask --app directory init-db`.")
    return int(row[0])


class CommittedRevisionReader:
    """Reads the committed revision through connections kept open for that alone, in autocommit
    (one per thread reading at once): every search reads it (from the cache or the copy of
    the search rows), and checking a connection out of the engine's pool and back (with its
    rollback) took about 12 microseconds of the 5 of the read itself; in a request, with the
    pool's code out of the CPU's caches, about 40.

    The connections are the engine's own (its pool opens them, with whatever it sets on
    connect), detached from the pool. One that fails is closed and the read tried once on a
    new one, so a restarted database server costs one reconnection. A process forked from the
    one that opened them (a gunicorn worker) never touches them: it opens its own. `close`
    closes this process's."""

    def __init__(self, engine: Engine) -> None:
        self._engine = weakref.ref(engine)  # not kept alive by its reader (`_readers` is keyed on it)
        self._pid = os.getpid()
        self._idle: list[Any] = []
        #: Connections of the process this one was forked from: kept, never used or closed here
        #: (closing one would end the other process's session on the server).
        self._inherited: list[Any] = []

    def read(self) -> int:
        if os.getpid() != self._pid:
            self._inherited += self._idle
            self._idle, self._pid = [], os.getpid()
        try:
            connection = self._idle.pop()
        except IndexError:
            connection = self._open()
        try:
            revision = read_revision(connection.dbapi_connection)
        except Exception:
            connection.close()
            connection = self._open()
            revision = read_revision(connection.dbapi_connection)
        self._idle.append(connection)
        return revision

    def _open(self) -> Any:
        engine = self._engine()
        if engine is None:
            raise RuntimeError("the engine of this revision reader is gone")
        connection = engine.raw_connection()
        connection.detach()  # closing it closes it; it is never returned to the pool
        if hasattr(connection.dbapi_connection, "autocommit"):  # psycopg; sqlite3 starts no transaction to read
            connection.dbapi_connection.autocommit = True
        return connection

    def close(self) -> None:
        """Close this process's idle connections (a read afterwards opens a new one)."""
        if os.getpid() != self._pid:
            return
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()
