"""The directory revision read through connections kept for it (revision.py), on the test's database."""

from __future__ import annotations

import os

from sqlalchemy import update
from sqlalchemy.orm import Session

from directory.models import Center
from directory.search import memory, revision
from directory.search.revision import CommittedRevisionReader, read_directory_revision
from tests.factories import add_centers, center_record


def _in_transaction(dbapi_connection) -> bool:
    info = getattr(dbapi_connection, "info", None)  # psycopg
    if info is not None and hasattr(info, "transaction_status"):
        return info.transaction_status.name != "IDLE"
    return dbapi_connection.in_transaction  # sqlite3


def test_the_reader_sees_each_commit_and_holds_no_transaction_open(session):
    add_centers(session, center_record(name="First"))
    session.commit()
    reader = CommittedRevisionReader(session.get_bind())
    first = reader.read()
    assert first == read_directory_revision(session)
    session.rollback()
    (held,) = reader._idle
    assert not _in_transaction(held.dbapi_connection)  # no snapshot kept, no lock held
    with Session(session.get_bind()) as other:
        other.execute(update(Center).values(phone="(312) 555-0199"))
        other.commit()
    assert reader.read() > first
    assert reader._idle == [held]  # the same connection, again
    reader.close()
    assert reader._idle == []


def test_a_broken_connection_is_replaced_and_the_read_answered(session):
    add_centers(session, center_record(name="First"))
    reader = CommittedRevisionReader(session.get_bind())
    revision = reader.read()
    (held,) = reader._idle
    held.dbapi_connection.close()  # as if the server had gone away
    assert reader.read() == revision
    (replacement,) = reader._idle
    assert replacement is not held


def test_a_forked_process_opens_its_own_and_leaves_the_parents_alone(session, monkeypatch):
    add_centers(session, center_record(name="First"))
    reader = CommittedRevisionReader(session.get_bind())
    revision = reader.read()
    (parents,) = reader._idle
    monkeypatch.setattr(os, "getpid", lambda: -1)  # the same object, seen from a child process
    reader.close()
    assert reader.read() == revision
    assert reader._inherited == [parents] and reader._idle != [parents]
    monkeypatch.undo()
    assert not _in_transaction(parents.dbapi_connection)  # never closed nor used by the child


def test_disposing_of_the_engine_closes_its_readers_connections(session):
    engine = session.get_bind()
    memory.enable(engine, background=False)
    add_centers(session, center_record(name="First"))
    session.commit()
    assert memory.index_for(session) is not None
    reader = revision._readers[engine]
    assert len(reader._idle) == 1
    engine.dispose()
    assert reader._idle == []
    assert memory.index_for(session) is not None  # a new connection, and the same copy
    assert len(reader._idle) == 1


def test_a_reader_does_not_keep_its_engine_alive(tmp_path):
    import gc

    from sqlalchemy import create_engine

    engine = create_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    revision._readers[engine] = CommittedRevisionReader(engine)
    assert len([e for e in revision._readers if e is engine]) == 1
    del engine
    gc.collect()
    assert not any(str(tmp_path) in str(e.url) for e in revision._readers)
