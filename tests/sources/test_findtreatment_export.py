"""FindTreatment.gov's facility download: code mapping, the real Massachusetts file, SU/MH merging,
strictness, the .xlsx form, the download date, and what the imported listings show."""

from __future__ import annotations

import csv
import shutil
import tracemalloc
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import select

from directory.models import Center
from directory.sources import import_file, nssats
from directory.sources.findtreatment_export import (
    CODE_MAP,
    EXPORT_CODES,
    LEFT_OUT_MENTAL_HEALTH_ONLY,
    SHARED_CODES,
    SOURCE,
    MissingSourceDate,
    download_date,
    read_export,
    read_rows,
)
from directory.sources.loader import center_to_record
from directory.vocabulary import ATTRIBUTE_VOCABULARIES
from tests.conftest import SHARED_DATA
from tests.public.pages import Page
from tests.sources.helpers import count_centers, run_import

EXPORT_FILE = SHARED_DATA / "findtreatment-2025-ma" / "facility-detail.csv"
DOWNLOAD_NAME = "FindTreament_Facility_listing_2025_08_19_150020"
DAY = date(2025, 8, 19)


def real_rows() -> tuple[list[str], list[list[str]]]:
    """The real file's header (as written, spaces and all) and data rows."""
    with open(EXPORT_FILE, encoding="utf-8-sig", newline="") as stream:
        header, *rows = list(csv.reader(stream))
    return header, rows


HEADER, ROWS = real_rows()
COLUMN = {name.strip(): k for k, name in enumerate(HEADER)}


def row(n: int, **cells: str) -> list[str]:
    """Data row n of the real file (n = 0 is its line 2), with some cells changed."""
    changed = list(ROWS[n])
    for name, value in cells.items():
        changed[COLUMN[name]] = value
    return changed


def write_export(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def flags(n: int) -> set[str]:
    return {code for code in COLUMN if ROWS[n][COLUMN[code]].strip() == "1"}


def test_every_mapped_code_is_a_vocabulary_code_and_a_column_offered_somewhere_in_the_real_file():
    assert {code for kind, code in CODE_MAP.values() if code not in ATTRIBUTE_VOCABULARIES[kind]} == set()
    offered = {code for n in range(len(ROWS)) for code in flags(n)}
    assert set(CODE_MAP) <= offered
    # The shared codes keep their 2015 meaning; the ones defined here are not 2015 codes, but F37.
    assert all(CODE_MAP[code] == nssats.CODE_MAP[code.upper()] for code in SHARED_CODES)
    assert {code for code in EXPORT_CODES if code.upper() in nssats.CODE_MAP} == {"F37".lower()}


def test_detox_by_substance_codes_sit_only_on_rows_offering_detox():
    for n in range(len(ROWS)):
        substances = flags(n) & {"adtx", "odtx", "bdtx", "cdtx", "mdtx"}
        assert not substances or "dt" in flags(n), n
    assert sum("dt" in flags(n) for n in range(len(ROWS))) == 59


def test_the_real_massachusetts_file_imports_with_every_row_accounted_for(session, tmp_path):
    report = import_file(session, EXPORT_FILE, "findtreatment-export", source_date=DAY)
    assert report.written and report.invalid_rows == 0, [str(i) for i in report.issues[:5]]
    assert (report.created, report.merged_rows, report.left_out) == (411, 210, {LEFT_OUT_MENTAL_HEALTH_ONLY: 41})
    assert report.rows_read == len(ROWS) == 662

    centers = session.scalars(select(Center)).all()
    assert {(c.source, c.source_vintage, c.source_date) for c in centers} == {(SOURCE, 2025, DAY)}
    assert sum(bool(c.detox_substances) for c in centers) == 56  # of the 57 listings with a dt row
    # North Suffolk's Chelsea site: an SU and an MH row, one listing with the union of their codes.
    [chelsea] = [c for c in centers if c.external_id == f"{SOURCE}:north-suffolk-community-services-301-broadway-02150"]
    assert (chelsea.phone, chelsea.alt_name, chelsea.city) == ("(866) 781-6727", "Chelsea Counseling Center", "Chelsea")
    assert {"buprenorphine", "naltrexone_oral"} <= set(chelsea.medications)
    # SSTAR, Fall River: five rows (three SU, two MH) of one site.
    [sstar] = [c for c in centers if c.name == "SSTAR" and c.street1 == "386 Stanley Street"]
    assert sstar.alt_name.count(" / ") == 2
    assert sstar.intake_phone == "(508) 235-7002"
    assert "medical_detox" in sstar.levels_of_care
    assert sstar.detox_substances == ["alcohol", "benzodiazepines", "cocaine", "methamphetamine", "opioids"]
    # The one web address broken by a tab, and the bare "http://" of no website.
    [boston] = [c for c in centers if c.name == "Boston Comprehensive Treatment Center"]
    assert boston.website == "http://www.ctcprograms.com/location/boston-comprehensive-treatment-center/"
    assert all(c.website is None for c in centers if c.name in ("Interim House Inc", "Anchor House Inc"))
    # Mental-health facilities without substance-use treatment are not listed.
    assert not [c for c in centers if c.name == "Cambridge Eating Disorder Center"]

    again = import_file(session, EXPORT_FILE, "findtreatment-export", source_date=DAY)
    assert (again.created, again.updated, again.unchanged, again.merged_rows) == (0, 0, 411, 210)


def test_codes_map_to_the_vocabulary_and_the_rows_of_a_site_merge(tmp_path):
    su = row(0, type_facility="SU", sa="1", dt="1", rd="1", adtx="1", odtx="1", f37="1", nxn="", intake1="")
    mh = row(1, type_facility="MH", sa="1", phdt="1", itu="1", intake1="617-555-0100", name2="Outpatient")
    other = row(2)
    parsed = list(read_rows(_source(HEADER, [su, mh, other]), "x.csv", DAY))
    assert [(p.line, p.merged) for p in parsed] == [(2, 1), (4, 0)]
    record = parsed[0].record
    assert record.detox_substances == ["alcohol", "opioids"]
    assert {"medical_detox", "partial_hospitalization"} <= set(record.levels_of_care)
    assert "hmn" in record.languages and "ihs_tribal" in record.payment_options
    assert record.intake_phone == "(617) 555-0100"
    assert record.alt_name == "Chelsea Counseling Center / Outpatient"


def test_a_mental_health_row_without_substance_use_treatment_is_left_out():
    mh_only = row(0, type_facility="MH", sa="", name1="Mind Only Clinic")
    parsed = list(read_rows(_source(HEADER, [mh_only, row(2)]), "x.csv", DAY))
    assert [(p.line, p.left_out, bool(p.record)) for p in parsed] == [
        (2, LEFT_OUT_MENTAL_HEALTH_ONLY, False),
        (3, None, True),
    ]


def _source(header, rows):
    def rows_of():
        yield 1, header
        yield from enumerate(rows, start=2)

    return rows_of


@pytest.mark.parametrize(
    ("cells", "expected"),
    [
        (
            {"latitude": "142.1"},
            "x.csv:3: column 'latitude': is out of range (decimal degrees, -90 to 90) (got '142.1')",
        ),
        ({"name1": ""}, "x.csv:3: column 'name1': is required (got '')"),
        ({"zip": "215000"}, "x.csv:3: column 'zip': is not a ZIP code (5 digits, e.g. 02139) (got '215000')"),
        ({"zip": "ABCDE"}, "x.csv:3: column 'zip': is not a ZIP code (5 digits, e.g. 02139) (got 'ABCDE')"),
        ({"md": "yes"}, "x.csv:3: column 'md': must be 1 (offered) or empty (not offered) (got 'yes')"),
        ({"type_facility": "XX"}, "x.csv:3: column 'type_facility': must be SU (substance use) or MH"),
    ],
)
def test_a_bad_row_is_named_by_file_line_column_and_value_and_nothing_is_written(
    app, session, tmp_path, cells, expected
):
    path = write_export(tmp_path / "x.csv", [row(5), row(6, **cells), row(7)])
    report = import_file(session, path, "findtreatment-export", source_date=DAY)
    assert not report.written and report.invalid_rows == 1
    [issue] = report.issues
    assert str(issue).replace(str(tmp_path) + "/", "").startswith(expected)
    assert count_centers(app) == 0

    skipping = import_file(session, path, "findtreatment-export", source_date=DAY, skip_invalid=True)
    assert skipping.written and (skipping.created, skipping.invalid_rows) == (2, 1)
    assert count_centers(app) == 2


def test_a_wrong_header_is_refused_naming_the_missing_columns(app, session, tmp_path):
    header = [name for name in HEADER if name.strip() not in ("latitude", "adtx")]
    rows = [[cell for name, cell in zip(HEADER, r, strict=True) if name in header] for r in ROWS[:3]]
    report = import_file(
        session, write_export(tmp_path / "x.csv", rows, header), "findtreatment-export", source_date=DAY
    )
    assert not report.written
    assert str(report.issues[0]).startswith(f"{tmp_path}/x.csv:1: column '(header)': missing columns latitude, adtx;")
    assert count_centers(app) == 0


def test_a_row_with_too_many_fields_is_refused(session, tmp_path):
    path = write_export(tmp_path / "x.csv", [row(0), [*row(1), "1"]])
    report = import_file(session, path, "findtreatment-export", source_date=DAY)
    assert not report.written
    assert "x.csv:3: column '(row)': has 333 fields; expected 332, one per column" in str(report.issues[0])


def test_the_download_date_comes_from_the_locators_file_name_or_the_option(app, session, runner, tmp_path):
    assert download_date(f"/tmp/{DOWNLOAD_NAME}.xlsx") == DAY
    assert download_date("facility-detail.csv") is None
    assert download_date("FindTreament_Facility_listing_2025_13_40_1.csv") is None

    undated = write_export(tmp_path / "facility-detail.csv", [row(0), row(2)])
    with pytest.raises(MissingSourceDate):
        import_file(session, undated, "findtreatment-export")
    result = run_import(runner, undated, "findtreatment-export")
    assert result.exit_code == 2
    assert "the file name has no download date" in result.output and "--source-date YYYY-MM-DD" in result.output
    assert count_centers(app) == 0

    result = run_import(runner, undated, "findtreatment-export", "--source-date", "2025-08-20")
    assert result.exit_code == 0, result.output
    dated = shutil.copy(undated, tmp_path / f"{DOWNLOAD_NAME}.csv")
    result = run_import(runner, dated, "findtreatment-export")
    assert result.exit_code == 0, result.output
    assert "Imported: 0 created, 2 updated" in result.output  # the later import's date, 19 August
    session.rollback()
    assert set(session.scalars(select(Center.source_date))) == {DAY}

    result = run_import(runner, dated, "nssats", "--source-date", "2025-08-20")
    assert result.exit_code == 2 and "--source-date goes with --format findtreatment-export only" in result.output


def test_the_cli_reports_merged_and_left_out_rows(runner, tmp_path):
    path = shutil.copy(EXPORT_FILE, tmp_path / f"{DOWNLOAD_NAME}.csv")
    result = run_import(runner, path, "findtreatment-export")
    assert result.exit_code == 0, result.output
    assert (
        "Imported: 411 created, 0 updated, 0 unchanged, 0 kept as edited by their center, 0 invalid, "
        "210 merged into the listing of another row of the same site, 41 left out as a mental-health facility "
        "(type_facility MH) offering no substance-use treatment (sa) (662 rows read)."
    ) in result.output


def write_xlsx(path: Path, rows: list[list[str]]) -> Path:
    """An .xlsx as a spreadsheet holds the export: numbers as numbers (a ZIP loses its leading zero)."""
    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet("Facilities")
    sheet.append(HEADER)
    for cells in rows:
        sheet.append([_as_spreadsheet_value(cell) for cell in cells])
    workbook.save(path)
    return path


def _as_spreadsheet_value(cell: str) -> object:
    for kind in (int, float):
        try:
            return kind(cell)
        except ValueError:
            continue
    return cell or None


def test_an_xlsx_download_gives_the_same_listings_as_its_csv(session, tmp_path):
    rows = ROWS[:60]
    csv_report = import_file(
        session, write_export(tmp_path / "part.csv", rows), "findtreatment-export", source_date=DAY
    )
    from_csv = sorted(map(repr, map(center_to_record, session.scalars(select(Center)))))
    for center in session.scalars(select(Center)):
        session.delete(center)
    session.commit()

    xlsx = write_xlsx(tmp_path / f"{DOWNLOAD_NAME}.xlsx", rows)
    xlsx_report = import_file(session, xlsx, "findtreatment-export")
    assert xlsx_report.written and xlsx_report.invalid_rows == 0, [str(i) for i in xlsx_report.issues]
    assert (xlsx_report.created, xlsx_report.merged_rows, xlsx_report.left_out) == (
        csv_report.created,
        csv_report.merged_rows,
        csv_report.left_out,
    )
    assert csv_report.created > 30 and csv_report.merged_rows > 10
    assert sorted(map(repr, map(center_to_record, session.scalars(select(Center))))) == from_csv


def test_an_error_in_an_xlsx_names_the_spreadsheet_row_and_column(app, session, tmp_path):
    xlsx = write_xlsx(tmp_path / f"{DOWNLOAD_NAME}.xlsx", [row(0), row(1), row(2, latitude="north")])
    report = import_file(session, xlsx, "findtreatment-export")
    assert not report.written
    assert [str(issue) for issue in report.issues] == [
        f"{xlsx}:4: column 'latitude': is not a number (decimal degrees, -90 to 90) (got 'north')"
    ]
    assert count_centers(app) == 0


@pytest.mark.parametrize("content", [b"", b"not a zip file at all", b"PK\x03\x04broken"])
def test_an_unreadable_xlsx_is_refused_with_a_clear_message(app, runner, tmp_path, content):
    xlsx = tmp_path / f"{DOWNLOAD_NAME}.xlsx"
    xlsx.write_bytes(content)
    result = run_import(runner, xlsx, "findtreatment-export")
    assert result.exit_code == 1
    assert f"error: {xlsx}:0: column '(file)': is not a readable .xlsx workbook" in result.output
    assert count_centers(app) == 0


@pytest.mark.parametrize("damage", ["cut off", "bad row"])
def test_a_damaged_sheet_is_refused_with_nothing_written(app, runner, tmp_path, damage):
    good = write_xlsx(tmp_path / "good.xlsx", ROWS[:20])
    damaged = tmp_path / f"{DOWNLOAD_NAME}.xlsx"
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(damaged, "w") as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename.startswith("xl/worksheets/") and damage == "cut off":
                data = data[: len(data) * 2 // 3]  # found on opening the workbook
            elif item.filename.startswith("xl/worksheets/"):
                # As Excel writes it, the sheet's size first: the broken row is found while reading rows.
                data = data.replace(b"<sheetData>", b'<dimension ref="A1:LT21"/><sheetData>', 1)
                data = data[: data.rindex(b"</row>")] + b"</rox>" + data[data.rindex(b"</row>") + 6 :]
            target.writestr(item, data)
    result = run_import(runner, damaged, "findtreatment-export")
    assert result.exit_code == 1
    assert f"error: {damaged}:0: column '(file)': is not a readable .xlsx workbook" in result.output
    assert count_centers(app) == 0


def test_reading_keeps_the_sites_still_open_not_the_rows(tmp_path):
    """Memory grows by an id and a number per site, far less than the ~20 kB a row of 332 cells takes."""

    def peak(sites: int) -> int:
        rows = [
            row(n % 40, name1=f"Site {n}", type_facility=kind, sa="1") for n in range(sites) for kind in ("SU", "MH")
        ]
        path = write_export(tmp_path / f"{sites}.csv", rows)
        with open(path, encoding="utf-8", newline="") as stream:
            tracemalloc.start()
            try:
                for parsed in read_export(stream, str(path), DAY):
                    assert parsed.record is not None and parsed.merged == 1
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    small, large = peak(100), peak(1000)
    assert (large - small) / 900 < 1000, (small, large)


def test_profile_api_and_search_show_detox_substances(client, session):
    import_file(session, EXPORT_FILE, "findtreatment-export", source_date=DAY)
    with_benzo = session.scalars(select(Center)).all()
    detox = [c for c in with_benzo if "benzodiazepines" in c.detox_substances]
    assert detox
    center = detox[0]

    page = Page(client.get(f"/centers/{center.slug}").data)
    labels = ", ".join(ATTRIBUTE_VOCABULARIES["detox_substances"][code] for code in _ordered(center.detox_substances))
    assert f"Detox for: {labels}" in page.text

    detail = client.get(f"/api/v1/centers/{center.id}").get_json()
    assert detail["detox_substances"] == center.detox_substances

    near = {"near": center.zip, "radius_miles": "10", "per_page": "100"}
    everything = client.get("/api/v1/centers/search", query_string=near).get_json()
    assert everything["total"] <= 100  # all on one page
    found = client.get("/api/v1/centers/search", query_string={**near, "detox_substance": "benzodiazepines"})
    found = found.get_json()
    assert 0 < found["total"] < everything["total"]
    assert all("benzodiazepines" in r["detox_substances"] for r in found["results"])
    expected = {r["id"] for r in everything["results"] if "benzodiazepines" in r["detox_substances"]}
    assert {r["id"] for r in found["results"]} == expected

    web = Page(client.get("/search", query_string={**near, "detox_substance": "benzodiazepines"}).data)
    assert sorted(web.result_names()) == sorted(r["name"] for r in found["results"])
    assert "Detox for: Benzodiazepines" in web.text  # the chosen filter, removable

    bad = client.get("/api/v1/centers/search", query_string={**near, "detox_substance": "caffeine"})
    assert bad.status_code == 400 and "caffeine" in bad.get_data(as_text=True)


def _ordered(codes: list[str]) -> list[str]:
    order = list(ATTRIBUTE_VOCABULARIES["detox_substances"])
    return sorted(codes, key=order.index)
