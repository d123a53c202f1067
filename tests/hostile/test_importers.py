"""Property: any file given to an importer (N-SSATS, FindTreatment.gov, the project's CSV) is either
imported cleanly or refused with issues naming the file, line and column, and a refused import
writes nothing: the database holds exactly what it held before."""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from directory.models import Center, CenterAttribute
from directory.sources import import_file
from directory.sources.findtreatment import COLUMNS as FINDTREATMENT_COLUMNS
from directory.sources.findtreatment import GENERIC_NALTREXONE, LABEL_MAP
from directory.sources.loader import ImportReport
from directory.sources.nssats import CODE_MAP, COMBINED_CODES, NOTE_CODES, UNLISTED_CODES
from directory.sources.nssats import COLUMNS as NSSATS_COLUMNS
from directory.sources.records import CSV_COLUMNS
from tests.factories import add_centers, center_record
from tests.hostile.conftest import HOSTILE
from tests.sources.helpers import centers_row, findtreatment_row, nssats_row

#: Strings that have broken importers somewhere: control characters, other scripts' digits,
#: numbers too big for a float, quotes, SQL and markup.
NASTY = [
    "", " ", "\x00", "a\x00b", "\x1f", "\x85", "\u2028", "\ufeff", "\u202e", "٣٦٣١٠", "1e999", "nan", "-inf",
    "1_0", "9" * 30, '"', "'", "' OR 1=1 --", "<script>alert(1)</script>", "x" * 250, "é", "\r", "\n",
]  # fmt: skip
nasty_text = st.one_of(st.sampled_from(NASTY), st.text(max_size=15))
numbers = st.one_of(
    st.floats().map(repr),
    st.integers(-(10**6), 10**6).map(str),
    st.decimals(min_value=-200, max_value=200, places=8).map(str),
    st.sampled_from(["1e999", "nan", "inf", "-0", "1_0", "٣١.٥", "90.0000001"]),
)
phones = st.one_of(
    st.from_regex(r"\A\([2-9][0-9]{2}\) ?[0-9]{3}-[0-9]{4}( x[0-9]{1,8})?\Z"),
    st.from_regex(r"\A[0-9]{3}-[0-9]{3}-[0-9]{4}\Z"),
    st.sampled_from(["(334)673-2143 Intake: (334)673-2144", "Intakes: (205)216-0200", "(000)000-0000", "555-0100"]),
)


def _one_of_or_valid(valid: str, *special: st.SearchStrategy) -> st.SearchStrategy:
    return st.one_of(st.just(valid), nasty_text, *special)


def changes(columns: dict[str, st.SearchStrategy]) -> st.SearchStrategy:
    """A few columns of a valid row changed (so most rows are valid but for one or two things)."""
    change = st.sampled_from(sorted(columns)).flatmap(lambda name: st.tuples(st.just(name), columns[name]))
    return st.lists(change, max_size=3).map(dict)


#: N-SSATS rows: codes from the key (and some not), repeated names and addresses (merged sites).
nssats_keys = st.lists(
    st.sampled_from([*CODE_MAP, *UNLISTED_CODES, *COMBINED_CODES, *(n.replace(" ", "/") for n in NOTE_CODES),
                     "", "ZZZ", "n13", "SA SA"]),
    max_size=6,
).map(lambda codes: "/".join(codes) + "/")  # fmt: skip
nssats_rows = st.builds(
    lambda n, changed: {**nssats_row(n), **changed},
    st.integers(1, 3),
    changes(
        {
            "Name1": _one_of_or_valid("Harbor House 1", st.sampled_from(["harbor house 1 ", "A"])),
            "Name2": nasty_text,
            "Address1": _one_of_or_valid("1 Dothan Road", st.just("1 DOTHAN ROAD")),
            "Address2": nasty_text,
            "City": nasty_text,
            "State": _one_of_or_valid("AL", st.sampled_from(["al", "XX", "PR", "A L"])),
            "ZIP_Code": _one_of_or_valid("36310", st.from_regex(r"\A[0-9]{1,6}\Z"), st.just("36310-1234")),
            "Contact": _one_of_or_valid("(334)673-2143", phones),
            "Note": st.one_of(st.sampled_from(list(NOTE_CODES)), nasty_text),
            "Keys": st.one_of(nssats_keys, nasty_text),
            "loc_ID": _one_of_or_valid("7363AL36310", st.just("x" * 300)),
            "Longitude": _one_of_or_valid("-85.2528", numbers),
            "Latitude": _one_of_or_valid("31.5534", numbers),
            "Match Score": nasty_text,
        },
    ),
)

#: FindTreatment.gov rows: the locator's labels (and some not), shared providers, odd websites.
labels = st.lists(st.sampled_from([*LABEL_MAP, *GENERIC_NALTREXONE, "Unknown label", "", "Medicaid\xa0"]), max_size=5)
findtreatment_rows = st.builds(
    lambda n, changed: {**findtreatment_row(n), **changed},
    st.integers(1, 3),
    changes(
        {
            "Name": _one_of_or_valid("Harbor Light 1"),
            "City": nasty_text,
            "State": _one_of_or_valid("CA", st.sampled_from(["ca", "XX"])),
            "ZIP": _one_of_or_valid("94103", st.from_regex(r"\A[0-9]{1,6}\Z")),
            "Phone": _one_of_or_valid("415-503-3000", phones),
            "Address": nasty_text,
            "Website": _one_of_or_valid(
                "https://example.org",
                st.sampled_from(["http://", "https://", "javascript:alert(1)", "http://a b.org", "ftp://x.org",
                                 "http://[::1", "https://" + "a" * 300 + ".org", "data:text/html,<b>"]),
            ),
            "Latitude": _one_of_or_valid("37.7726028", numbers),
            "Longitude": _one_of_or_valid("-122.4097104", numbers),
            "Residential Services": st.one_of(labels.map("; ".join), nasty_text),
            "All Services": st.one_of(labels.map("; ".join), nasty_text),
        },
    ),
)  # fmt: skip

#: Rows of the project's own format, every column possibly nasty.
centers_rows = st.builds(
    lambda n, changed: {**centers_row(n), **changed},
    st.integers(1, 3),
    changes(dict.fromkeys(CSV_COLUMNS, nasty_text)),
)

FORMATS = {
    "nssats": (NSSATS_COLUMNS, nssats_rows),
    "findtreatment": (FINDTREATMENT_COLUMNS, findtreatment_rows),
    "centers": (CSV_COLUMNS, centers_rows),
}


def csv_text(header: tuple[str, ...] | list[str], rows: list[dict[str, str]]) -> str:
    stream = io.StringIO()
    writer = csv.writer(stream)
    writer.writerow(header)
    writer.writerows([row.get(c, "") for c in header] for row in rows)
    return stream.getvalue()


KEEP = "seed:keep"


@pytest.fixture
def kept(session: Session) -> Session:
    """The session, with one center already stored that no import may touch or lose."""
    add_centers(session, center_record(external_id=KEEP, name="Kept Center"))
    return session


def snapshot(session: Session) -> tuple:
    """What the database holds: the number of centers and codes, and the kept center's listing."""
    session.expire_all()
    kept = session.scalar(select(Center).where(Center.external_id == KEEP))
    return (
        session.scalar(select(func.count()).select_from(Center)),
        session.scalar(select(func.count()).select_from(CenterAttribute)),
        (kept.name, kept.phone, kept.latitude, kept.updated_at, tuple(kept.levels_of_care)),
    )


def check_import(session: Session, path: Path, file_format: str) -> ImportReport:
    """Import the file: a clean import, or issues naming file, line and column with nothing written."""
    before = snapshot(session)
    report = import_file(session, path, file_format)
    after = snapshot(session)
    try:
        if report.invalid_rows:
            assert not report.written
            assert after == before, "a refused import changed the database"
            assert report.issues
            physical_lines = len(re.split(rb"\r\n|\r|\n", path.read_bytes()))  # as the csv module counts
            for issue in report.issues:
                assert issue.path == str(path)
                assert isinstance(issue.line, int) and 0 <= issue.line <= physical_lines + 1, issue
                assert issue.line > 0 or issue.column == "(file)", issue
                assert issue.column and issue.message.strip(), issue
                assert str(issue).startswith(f"{path}:{issue.line}: column {issue.column!r}: ")
        else:
            assert report.written
            assert after[0] == before[0] + report.created
            assert after[2] == before[2], "an import changed a center it had no row for"
    finally:
        session.execute(delete(Center).where(Center.external_id != KEEP))
        session.commit()
    return report


@pytest.mark.parametrize("file_format", ["nssats", "findtreatment"])
@HOSTILE
@given(data=st.data())
def test_any_rows_import_cleanly_or_are_refused_whole(kept, tmp_path, file_format, data):
    header, rows = FORMATS[file_format]
    generated = data.draw(st.lists(rows, min_size=1, max_size=5), label="rows")
    path = tmp_path / f"{file_format}.csv"
    path.write_text(csv_text(header, generated), encoding="utf-8", newline="")
    check_import(kept, path, file_format)


@pytest.mark.parametrize("file_format", list(FORMATS))
@HOSTILE
@given(data=st.data())
def test_any_bytes_import_cleanly_or_are_refused_whole(kept, tmp_path, file_format, data):
    """Whatever bytes follow a header and a valid row (or replace them): not UTF-8, NUL bytes,
    stray quotes, ragged rows, a missing or shuffled header."""
    header, rows = FORMATS[file_format]
    start = data.draw(
        st.sampled_from(["", "header", "header and row", "shuffled header", "bom and header"]), label="start"
    )
    valid = csv_text(header, [data.draw(rows, label="row")]) if "row" in start else ""
    prefix = {
        "": "",
        "header": ",".join(header) + "\n",
        "header and row": valid,
        "shuffled header": ",".join(data.draw(st.permutations(header))[:-1]) + "\n",
        "bom and header": "\ufeff" + ",".join(header) + "\r\n",
    }[start]
    tail = data.draw(
        st.one_of(
            st.binary(max_size=200),
            st.text(max_size=200).map(lambda s: s.encode("utf-8")),
            st.lists(
                st.sampled_from([b",", b'"', b"\n", b"\r", b"\x00", b"\xff", b"\xc3", b"a", b";"]), max_size=60
            ).map(b"".join),
        ),
        label="tail",
    )
    path = tmp_path / f"{file_format}-bytes.csv"
    path.write_bytes(prefix.encode("utf-8") + tail)
    check_import(kept, path, file_format)


def _nssats_file(tmp_path: Path, **changes: str) -> Path:
    path = tmp_path / "nssats.csv"
    path.write_text(csv_text(NSSATS_COLUMNS, [{**nssats_row(1), **changes}]), encoding="utf-8", newline="")
    return path


@pytest.mark.parametrize(
    "changes",
    [{"loc_ID": "x" * 300}, {"loc_ID": "7363\x00AL"}, {"loc_ID": ""}, {"loc_ID": "7363 AL/36310"}],
    ids=["long", "nul", "empty", "punctuation"],
)
def test_an_nssats_location_id_that_cannot_make_an_external_id_is_reported(kept, tmp_path, changes):
    report = check_import(kept, _nssats_file(tmp_path, **changes), "nssats")
    assert [issue.column for issue in report.issues] == ["loc_ID"]


@HOSTILE
@given(st.binary(min_size=1, max_size=30))
@example(b"\xff")
def test_a_file_that_is_not_utf8_is_reported_at_its_line(kept, tmp_path, junk):
    """A bad byte is reported at the line it is on, with its offset in the file."""
    text = csv_text(CSV_COLUMNS, [centers_row(n) for n in range(1, 300)])  # longer than one read buffer
    data = text.encode("utf-8") + b"bad," + junk + b"\n"
    path = tmp_path / "latin.csv"
    path.write_bytes(data)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        report = check_import(kept, path, "centers")
        (issue,) = [i for i in report.issues if i.column == "(file)"]
        assert issue.line == data.count(b"\n", 0, error.start) + 1
        assert f"at byte {error.start}" in issue.message
