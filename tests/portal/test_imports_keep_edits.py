"""A center's own edits survive re-imports, and the portal and imports accept the same values."""

from __future__ import annotations

import pytest

from directory.centers_editing import ListingError, check_center_edit
from directory.sources import import_file
from directory.sources.centers_csv import parse_center_row, record_to_row
from directory.sources.records import CSV_COLUMNS, MULTI_VALUED
from tests.factories import center_record
from tests.portal.conftest import edit_data, sign_in


def test_a_reimport_keeps_the_centers_edits_unless_told_to_overwrite(client, runner, store, cast, tmp_path):
    original = tmp_path / "original.csv"
    assert runner.invoke(args=["centers", "export", str(original)]).exit_code == 0

    sign_in(client, cast.staff_a)
    client.post(f"/portal/centers/{cast.a.id}/edit", data=edit_data(cast.a, name="Alpha, as the center says"))
    client.post(f"/portal/centers/{cast.a.id}/capacity", data={"accepting_referrals": "false", "beds_available": "0"})

    with store.session() as session:
        report = import_file(session, original)
    assert (report.kept_center_edits, report.unchanged, report.updated) == (1, 1, 0)
    center = store.center(cast.a.id)
    assert (center.name, center.accepting_referrals, center.beds_available) == ("Alpha, as the center says", False, 0)

    result = runner.invoke(args=["centers", "import", str(original), "--overwrite-center-edits"])
    assert result.exit_code == 0, result.output
    assert "1 updated" in result.output
    center = store.center(cast.a.id)
    assert (center.name, center.accepting_referrals, center.beds_available) == ("Alpha Recovery", None, None)


def test_what_the_portal_saves_exports_and_imports_again(client, runner, store, cast, tmp_path):
    sign_in(client, cast.staff_a)
    response = client.post(
        f"/portal/centers/{cast.a.id}/edit",
        data=edit_data(
            cast.a,
            name="  Alpha   Recovery  Center ",
            zip="60614-1234",
            phone="+1 312 555 0100 ext 12",
            website="https://alpha.example.org/intake?src=directory",
            detox_stay_days="365",
            populations=["veterans", "lgbtq"],
        ),
    )
    assert response.status_code == 302
    exported = tmp_path / "out.csv"
    assert runner.invoke(args=["centers", "export", str(exported)]).exit_code == 0
    with store.session() as session:
        report = import_file(session, exported, dry_run=True, overwrite_center_edits=True)
    assert report.invalid_rows == 0 and report.issues == []
    assert (report.unchanged, report.updated) == (2, 0), "the export reads back as exactly what was saved"


#: Values for one field each, some accepted and some not; the portal must agree with the importer.
VALUES = [
    ("zip", ["60601", "60601-1234", "6060", "606011", "", "60 601", "٦٠٦٠١"]),
    ("state", ["IL", "il", "PR", "ZZ", "", "Illinois"]),
    ("phone", ["(312) 555-0100", "312.555.0100 x7", "555-0100", "+44 20 7946 0958", "", "call"]),
    ("website", ["https://a.example.org", "http://a.org/x", "www.a.org", "ftp://a.org", "https://a b.org", ""]),
    ("name", ["Alpha", "", "   ", "x" * 200, "x" * 201, "tab\there", "bell\x07"]),
    ("city", ["Chicago", "", "x" * 100, "x" * 101]),
    ("detox_stay_days", ["", "1", "365", "0", "366", "5.0", "-3", "٥"]),
    ("levels_of_care", ["", "outpatient", "outpatient;residential", "detox", "outpatient;detox"]),
    ("languages", ["es;asl", "spanish"]),
    ("latitude", ["41.8", "-90", "90.1", "north"]),
]


@pytest.mark.parametrize(("field", "value"), [(field, value) for field, values in VALUES for value in values], ids=repr)
def test_the_portal_accepts_exactly_what_an_import_accepts(field, value):
    row = dict(zip(CSV_COLUMNS, record_to_row(center_record()), strict=True))
    row[field] = value
    parsed = parse_center_row(row, "test.csv", 2)
    import_ok = not [issue for issue in parsed.issues if issue.column == field]
    submitted: dict[str, object] = {field: value}
    if field in MULTI_VALUED:
        submitted[field] = [code for code in value.split(";") if code]
    if field == "latitude":
        submitted["longitude"] = "-87.6"
    try:
        values = check_center_edit(submitted)
    except ListingError as error:
        assert not import_ok, f"the portal refused {value!r}, which an import accepts: {error.fields}"
    else:
        assert import_ok, f"the portal accepted {value!r}, which an import refuses"
        expected = getattr(parsed.record, field)
        assert values[field] == expected
