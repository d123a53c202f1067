"""Property: any text in the project's CSV format is read without raising, and never half-written."""

from __future__ import annotations

import csv
from datetime import timedelta, timezone

import phonenumbers
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from directory.models import Center, CenterAttribute
from directory.sources import import_file
from directory.sources.centers_csv import read_centers_csv
from directory.sources.records import CSV_COLUMNS, MULTI_VALUED, RowChecker, format_phone
from directory.vocabulary import ATTRIBUTE_VOCABULARIES
from tests.sources.helpers import centers_row

VALID = centers_row()

timestamps = st.builds(
    lambda moment, minutes: moment.replace(tzinfo=timezone(timedelta(minutes=minutes))).isoformat(),
    st.datetimes(),
    st.integers(-23 * 60, 23 * 60),
)
numbers = st.one_of(st.floats().map(repr), st.integers(-(10**6), 10**6).map(str))
special = {
    "external_id": st.sampled_from(["test:1", "test:2", "x:y", "a:"]),
    "phone": st.from_regex(r"\A\+?1?[ (]*[0-9]{3}[) -]*[0-9]{3}-?[0-9]{1,5}( x[0-9]{1,6})?\Z"),
    "website": st.one_of(st.text(max_size=12), st.text("[]:/.@%a1 ", max_size=12)).map(lambda s: "http://" + s),
    "latitude": numbers,
    "longitude": numbers,
    "beds_available": numbers,
    "detox_stay_days": numbers,
    "source_vintage": numbers,
    "last_verified_at": timestamps,
    **{
        kind: st.lists(st.sampled_from([*ATTRIBUTE_VOCABULARIES[kind], "", "nope"]), max_size=4).map(";".join)
        for kind in MULTI_VALUED
    },
}
rows = st.fixed_dictionaries(
    {
        column: st.one_of(st.just(VALID[column]), st.text(max_size=20), special.get(column, st.nothing()))
        for column in CSV_COLUMNS
    }
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(rows, min_size=1, max_size=4))
def test_every_row_is_a_record_or_its_issues_and_a_strict_import_is_all_or_nothing(session, tmp_path, generated):
    path = tmp_path / "random.csv"
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_COLUMNS)
        writer.writerows([row[c] for c in CSV_COLUMNS] for row in generated)

    with open(path, encoding="utf-8-sig", newline="") as stream:
        parsed = list(read_centers_csv(stream, str(path)))
    assert len(parsed) == len(generated)
    for row in parsed:
        assert (row.record is None) == bool(row.issues)
        if row.record is not None:
            for kind in MULTI_VALUED:
                assert set(getattr(row.record, kind)) <= set(ATTRIBUTE_VOCABULARIES[kind])

    try:
        report = import_file(session, path)
        stored = session.scalar(select(func.count()).select_from(Center))
        if report.invalid_rows:
            assert not report.written
            assert stored == 0
        else:
            assert report.written
            assert stored == report.created == len(generated)
    finally:
        session.execute(delete(CenterAttribute))
        session.execute(delete(Center))
        session.commit()


@given(st.from_regex(r"\A\([2-9][0-9]{2}\) [0-9]{3}-[0-9]{4}( ext\. [0-9]{1,7})?\Z"))
def test_a_phone_already_formatted_is_read_as_phonenumbers_would(raw):
    # RowChecker.phone takes such numbers as they are, without phonenumbers: the same answer.
    assert RowChecker("in.csv", 2).phone("phone", raw) == format_phone(phonenumbers.parse(raw, "US")) == raw
