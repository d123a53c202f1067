"""Every importer refuses bad input with a message naming file, line, column, value and what is accepted."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from directory.models import Center
from directory.sources import import_file
from tests.factories import add_centers, center_record
from tests.sources.helpers import FORMATS, count_centers, run_import, write_rows


def bad(file_format: str, column: str, value: str, message: str, shown: str | None = None):
    """A row (line 3) whose `column` holds `value`; the error shows `shown` (default: the value)."""
    return pytest.param(
        file_format, column, value, message, value if shown is None else shown, id=f"{file_format}-{column}-{value!r}"
    )


INVALID_FIELDS = [
    bad("centers", "name", "", "is required"),
    bad("centers", "city", "", "is required"),
    bad("centers", "external_id", "no-source-prefix", 'must be "<source>:<id>"'),
    bad("centers", "state", "XX", "is not a US state or territory code (two letters, e.g. AL, DC, PR)"),
    bad("centers", "zip", "9410", "is not a ZIP code (5 digits, e.g. 02139)"),
    bad("centers", "zip", "٩٤١٠٣", "is not a ZIP code"),
    bad("centers", "latitude", "95", "is out of range (decimal degrees, -90 to 90)"),
    bad("centers", "longitude", "west", "is not a number (decimal degrees, -180 to 180)"),
    bad("centers", "latitude", "nan", "is out of range"),
    bad("centers", "levels_of_care", "residential;rehab", "has unknown codes; accepted: medical_detox", shown="rehab"),
    bad("centers", "languages", "Spanish", "has unknown codes; accepted: es, asl"),
    bad("centers", "phone", "555-0100", "is not a 10-digit US phone number, e.g. (334) 673-2143"),
    bad("centers", "intake_phone", "+44 20 7946 0958", "is not a 10-digit US phone number"),
    bad("centers", "website", "www.example.org", "is not a web address starting with http:// or https://"),
    bad("centers", "website", "http://[example.org", "is not a web address"),
    bad("centers", "accepting_referrals", "maybe", "must be true or false"),
    bad("centers", "beds_available", "ten", "must be a whole number from 0 to 10000"),
    bad("centers", "beds_available", "-3", "must be a whole number from 0 to 10000"),
    bad("centers", "detox_stay_days", "0", "must be a whole number from 1 to 365"),
    bad("centers", "source_vintage", "15", "must be a whole number from 1900 to 2100"),
    bad("centers", "source_date", "19/08/2025", "is not a date written YYYY-MM-DD"),
    bad("centers", "last_verified_at", "last week", "is not an ISO 8601 date or time"),
    bad("centers", "last_verified_at", "9999-12-31T23:00:00-05:00", "is out of range"),
    bad("centers", "name", "Harbor\x00Light", "contains control characters"),
    bad("nssats", "Name1", "", "is required"),
    bad("nssats", "State", "ZZ", "is not a US state or territory code"),
    bad("nssats", "ZIP_Code", "12", "is not a ZIP code (5 digits, e.g. 02139)"),
    bad("nssats", "Latitude", "91", "is out of range (decimal degrees, -90 to 90)"),
    bad("nssats", "Longitude", "n/a", "is not a number (decimal degrees, -180 to 180)"),
    bad("nssats", "Contact", "(334)673-21", "has no complete phone number, e.g. (334)673-2143"),
    bad("nssats", "Keys", "SA/OP/XYZ/", "has service codes missing from the N-SSATS code key", shown="XYZ"),
    bad("findtreatment", "Name", "", "is required"),
    bad("findtreatment", "State", "Calif", "is not a US state or territory code"),
    bad("findtreatment", "ZIP", "9410", "is not a ZIP code (5 digits, e.g. 02139)"),
    bad("findtreatment", "Latitude", "37,77", "is not a number (decimal degrees, -90 to 90)"),
    bad("findtreatment", "Longitude", "-222.4", "is out of range (decimal degrees, -180 to 180)"),
    bad("findtreatment", "Phone", "415-621", "is not a 10-digit US phone number"),
    bad("findtreatment", "Website", "sanfrancisco.salvationarmy.org", "is not a web address"),
]


@pytest.mark.parametrize(("file_format", "column", "value", "message", "shown"), INVALID_FIELDS)
def test_an_invalid_field_is_reported_and_the_file_changes_nothing(
    app, runner, tmp_path, file_format, column, value, message, shown
):
    path = write_rows(tmp_path / "in.csv", file_format, {}, {column: value})
    result = run_import(runner, path, file_format)
    assert result.exit_code == 1
    assert f"{path}:3: column {column!r}: {message}" in result.output
    assert f"(got {shown!r})" in result.output
    assert "Nothing imported: 1 invalid rows" in result.output
    assert count_centers(app) == 0


def test_a_row_reports_every_bad_field_at_once(runner, tmp_path):
    path = write_rows(tmp_path / "in.csv", "centers", {"state": "XX", "zip": "1", "phone": "12"})
    result = run_import(runner, path)
    assert result.exit_code == 1
    for column in ("state", "zip", "phone"):
        assert f"{path}:2: column {column!r}:" in result.output


@pytest.mark.parametrize("file_format", list(FORMATS))
def test_a_renamed_header_column_is_reported(app, runner, tmp_path, file_format):
    header, _ = FORMATS[file_format]
    path = write_rows(tmp_path / "in.csv", file_format, {})
    renamed = header[3]
    text = path.read_text(encoding="utf-8").replace(renamed, renamed.upper() + "_X", 1)
    path.write_text(text, encoding="utf-8")
    result = run_import(runner, path, file_format)
    assert result.exit_code == 1
    assert f"{path}:1: column '(header)': missing columns {renamed}" in result.output
    assert ",".join(header) in result.output  # what is expected
    assert count_centers(app) == 0


def test_the_centers_format_names_unknown_columns_and_the_expected_header(runner, tmp_path):
    path = write_rows(tmp_path / "in.csv", "centers", {})
    text = path.read_text(encoding="utf-8").replace("\n", ",notes\n", 1)
    path.write_text(text, encoding="utf-8")
    result = run_import(runner, path)
    assert result.exit_code == 1
    assert "unknown columns notes; expected: external_id,name,alt_name," in result.output


@pytest.mark.parametrize("file_format", list(FORMATS))
def test_an_empty_file_is_reported_as_a_missing_header(runner, tmp_path, file_format):
    path = tmp_path / "empty.csv"
    path.write_text("", encoding="utf-8")
    result = run_import(runner, path, file_format)
    assert result.exit_code == 1
    assert f"{path}:1: column '(header)': missing columns" in result.output


@pytest.mark.parametrize("file_format", list(FORMATS))
@pytest.mark.parametrize(("change", "count"), [(",surplus", 1), ("", -1)], ids=["too-many", "too-few"])
def test_a_row_with_the_wrong_number_of_fields_is_reported(app, runner, tmp_path, file_format, change, count):
    header, _ = FORMATS[file_format]
    path = write_rows(tmp_path / "in.csv", file_format, {}, {})
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[2] = lines[2] + change if change else lines[2].rsplit(",", 1)[0]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_import(runner, path, file_format)
    assert result.exit_code == 1
    expected = f"{path}:3: column '(row)': has {len(header) + count} fields; expected {len(header)}, one per column"
    assert expected in result.output
    assert count_centers(app) == 0


@pytest.mark.parametrize("file_format", list(FORMATS))
def test_a_file_that_is_not_utf8_is_reported(app, runner, tmp_path, file_format):
    path = write_rows(tmp_path / "in.csv", file_format, {}, {})
    text = path.read_text(encoding="utf-8").replace("Harbor", "Harbór")
    path.write_bytes(text.encode("latin-1"))
    result = run_import(runner, path, file_format)
    assert result.exit_code == 1
    assert f"{path}:2: column '(file)': is not UTF-8 text at byte" in result.output
    assert "save the file as UTF-8" in result.output
    assert count_centers(app) == 0


@pytest.mark.parametrize("file_format", list(FORMATS))
def test_a_field_too_long_for_the_csv_reader_is_reported_at_its_line(app, runner, tmp_path, file_format):
    path = write_rows(tmp_path / "in.csv", file_format, {}, {}, {})
    with open(path, "a", encoding="utf-8", newline="") as stream:
        stream.write('"an opening quote never closed' + "x" * 140_000 + "\n")
    result = run_import(runner, path, file_format)
    assert result.exit_code == 1
    assert f"{path}:5: column '(file)': is not a readable CSV file: field larger than field limit" in result.output
    assert "a quote that is opened and never closed" in result.output
    assert count_centers(app) == 0


def test_a_repeated_external_id_is_reported_with_the_first_line(app, runner, tmp_path):
    path = write_rows(tmp_path / "in.csv", "centers", {}, {}, {"external_id": "test:1"})
    result = run_import(runner, path)
    assert result.exit_code == 1
    assert f"{path}:4: column 'external_id': repeats the external id of line 2" in result.output
    assert count_centers(app) == 0


def test_nssats_rows_of_different_sites_with_one_id_are_reported(app, runner, tmp_path):
    # Same loc_ID and name but another street address: not a repeated row, yet the same id.
    path = write_rows(tmp_path / "in.csv", "nssats", {}, {"loc_ID": "1AL36310", "Name1": "Harbor House 1"})
    result = run_import(runner, path, "nssats")
    assert result.exit_code == 1
    assert f"{path}:3: column 'external_id': repeats the external id of line 2" in result.output
    assert count_centers(app) == 0


@pytest.mark.parametrize(
    ("file_format", "bad"),
    [("centers", {"state": "XX"}), ("nssats", {"State": "XX"}), ("findtreatment", {"State": "XX"})],
)
def test_skip_invalid_imports_the_valid_rows_and_reports_the_rest(app, runner, tmp_path, file_format, bad):
    path = write_rows(tmp_path / "in.csv", file_format, {}, bad, {})
    result = run_import(runner, path, file_format, "--skip-invalid")
    assert result.exit_code == 0, result.output
    assert f"{path}:3: column " in result.output
    assert "Imported: 2 created, 0 updated, 0 unchanged, 0 kept as edited by their center, 1 invalid." in result.output
    assert count_centers(app) == 2


@pytest.mark.parametrize("file_format", list(FORMATS))
def test_dry_run_changes_nothing_and_reports_counts(app, runner, tmp_path, file_format):
    path = write_rows(tmp_path / "in.csv", file_format, {}, {})
    result = run_import(runner, path, file_format, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run, nothing changed. Rows would be 2 created, 0 updated, 0 unchanged" in result.output
    assert count_centers(app) == 0


def test_dry_run_with_invalid_rows_reports_them_and_fails(app, runner, tmp_path):
    path = write_rows(tmp_path / "in.csv", "centers", {}, {"zip": "x"})
    result = run_import(runner, path, "centers", "--dry-run")
    assert result.exit_code == 1
    assert "Rows would be 1 created, 0 updated, 0 unchanged, 0 kept as edited by their center, 1 invalid" in (
        result.output
    )
    assert count_centers(app) == 0


def test_an_invalid_row_keeps_valid_updates_of_the_same_file_from_being_written(session, tmp_path):
    add_centers(session, center_record(external_id="test:1", phone="(312) 555-0100"))
    path = write_rows(tmp_path / "in.csv", "centers", {"phone": "(312) 555-0199"}, {}, {"zip": "606"})
    report = import_file(session, path)
    assert (report.updated, report.created, report.invalid_rows, report.written) == (1, 1, 1, False)
    assert session.execute(select(Center.external_id, Center.phone)).all() == [("test:1", "(312) 555-0100")]


@pytest.mark.parametrize("file_format", list(FORMATS))
def test_skip_invalid_still_fails_when_the_file_cannot_be_read_at_all(app, runner, tmp_path, file_format):
    path = write_rows(tmp_path / "in.csv", file_format, {}, {})
    path.write_bytes(path.read_bytes().replace(b"Harbor", b"Harb\xf3r"))
    result = run_import(runner, path, file_format, "--skip-invalid")
    assert result.exit_code == 1
    assert "is not UTF-8 text" in result.output
    assert count_centers(app) == 0
