"""Imports stream: rows are written a batch at a time, yet a file is still all or nothing."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from directory.models import Center
from directory.sources import loader
from directory.sources.loader import import_rows
from directory.sources.records import ImportIssue, ParsedRow
from tests.factories import add_centers, center_record
from tests.sources.helpers import count_centers

BATCH = 3


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    monkeypatch.setattr(loader, "BATCH_SIZE", BATCH)
    monkeypatch.setattr(loader._LinesByCenter, "CHUNK", 4)


def rows(records, start_line: int = 2) -> list[ParsedRow]:
    return [ParsedRow(start_line + i, record, []) for i, record in enumerate(records)]


def test_rows_are_read_as_they_are_written_not_all_first(session):
    written_when_read: list[int] = []

    def stream() -> Iterator[ParsedRow]:
        for n in range(20):
            written_when_read.append(session.scalar(select(func.count()).select_from(Center)))
            yield ParsedRow(n + 2, center_record(), [])

    report = import_rows(session, stream(), "big.csv")
    assert report.written and report.created == 20
    # Row n is read only once the batches before its own are written.
    assert written_when_read == [n - n % BATCH for n in range(20)]


def test_an_invalid_row_after_many_batches_writes_nothing(app, session):
    bad = ParsedRow(40, None, [ImportIssue("big.csv", 40, "state", "XX", "is not a US state")])
    report = import_rows(session, [*rows(center_record() for _ in range(30)), bad], "big.csv")
    assert not report.written and report.invalid_rows == 1
    assert count_centers(app) == 0


def test_a_repeated_external_id_in_a_later_batch_is_reported_with_its_first_line(app, session):
    records = [center_record() for _ in range(10)]
    repeat = center_record(external_id=records[1].external_id)
    report = import_rows(session, rows([*records, repeat]), "big.csv")
    assert not report.written
    assert [str(issue) for issue in report.issues] == [
        f"big.csv:12: column 'external_id': repeats the external id of line 3; each center needs its own "
        f"(got {records[1].external_id!r})"
    ]
    assert count_centers(app) == 0


def test_a_repeat_of_an_updated_center_in_a_later_batch_is_reported(session):
    existing = [center_record() for _ in range(8)]
    add_centers(session, *existing)
    again = [center_record(external_id=r.external_id, phone="(312) 555-0199") for r in existing]
    repeat = center_record(external_id=existing[0].external_id)
    report = import_rows(session, rows([*again, repeat]), "big.csv")
    assert (report.updated, report.invalid_rows) == (8, 1)
    assert "big.csv:10: column 'external_id': repeats the external id of line 2" in str(report.issues[0])


def test_a_name_repeated_across_batches_gets_the_next_free_slug(session):
    add_centers(
        session,
        center_record(name="Harbor Light", city="Chicago", state="IL"),
        center_record(name="Harbor Light 3", city="Chicago", state="IL", external_id="other:x"),
    )
    stored = session.scalars(select(Center.slug).order_by(Center.id)).all()
    assert stored == ["harbor-light-chicago-il", "harbor-light-3-chicago-il"]
    # "harbor-light-chicago-il-3" is free: only the slug of another name looks like it.
    report = import_rows(
        session, rows(center_record(name="Harbor Light", city="Chicago", state="IL") for _ in range(8)), "x"
    )
    assert report.created == 8
    slugs = session.scalars(select(Center.slug).order_by(Center.id)).all()[2:]
    assert slugs == [f"harbor-light-chicago-il-{n}" for n in range(2, 10)]


def test_slugs_skip_numbers_already_taken(session):
    add_centers(
        session,
        center_record(name="Harbor Light", city="Chicago", state="IL"),
        center_record(name="Harbor Light", city="Chicago", state="IL"),
        center_record(name="Harbor Light", city="Chicago", state="IL"),
    )
    third = session.scalars(select(Center).where(Center.slug == "harbor-light-chicago-il-3")).one()
    third.slug = "harbor-light-chicago-il-5"
    session.commit()
    report = import_rows(
        session, rows(center_record(name="Harbor Light", city="Chicago", state="IL") for _ in range(5)), "x"
    )
    assert report.created == 5
    slugs = session.scalars(select(Center.slug).order_by(Center.id)).all()[3:]
    assert slugs == [f"harbor-light-chicago-il-{n}" for n in (3, 4, 6, 7, 8)]
