"""Importer for FindTreatment.gov's facility download: the locator's "facility detail" spreadsheet
(.xlsx, or saved as CSV), the format SAMHSA publishes the current national directory in.

This is the one module that knows the export's columns and codes. Each service code is a column
holding "1" where the facility offers it. Codes that mean what the 2015 directory's code of the
same name means are mapped by `nssats.CODE_MAP`; codes new since then, or changed, are mapped here.
Quirks handled here: spaces around header names; numbers an .xlsx stores as numbers (a ZIP code
loses its leading zero); "http://" for no website, and a web address broken by a tab; a site
listed as a substance-use (SU) and as a mental-health (MH) facility, or as several SU programs:
merged into one listing; an MH row offering no substance-use treatment: left out.

The export has no facility id. A listing's external id is its name, street and ZIP (as slugs): what
the SU and MH rows of one site share, and what stays the same from one download to the next while
the facility keeps its name and address, so a re-import updates the listing instead of adding one.
"""

from __future__ import annotations

import csv
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, TextIO
from xml.etree.ElementTree import ParseError

import openpyxl
from openpyxl.utils.exceptions import InvalidFileException
from slugify import slugify

from directory.sources import nssats
from directory.sources.findtreatment import NO_WEBSITE
from directory.sources.records import MULTI_VALUED, CenterRecord, ImportIssue, ParsedRow, RowChecker

FORMAT = "findtreatment-export"
SOURCE = "findtreatment-gov"

#: The columns of a facility besides its service codes, as this importer reads them.
FACILITY_COLUMNS = (
    "name1", "name2", "street1", "street2", "city", "state", "zip", "phone", "intake1",
    "website", "latitude", "longitude", "type_facility",
)  # fmt: skip
#: The code of substance-use treatment: an MH row without it is left out.
SUBSTANCE_USE = "sa"
LEFT_OUT_MENTAL_HEALTH_ONLY = "a mental-health facility (type_facility MH) offering no substance-use treatment (sa)"

#: Export codes meaning what the 2015 directory's code of the same name means, checked against
#: the August 2025 export (e.g. hid on 22 rows, rd 20, nxn 224, vtrl 187, md 593, and each only on
#: rows where the locator's label matches the 2015 key's): mapped by `nssats.CODE_MAP`.
SHARED_CODES = (
    "hid", "rd", "od", "hit", "res", "rs", "rl", "odt", "ph", "oit", "op", "ort", "hh",
    "nxn", "vtrl", "bu", "mm",
    "sf", "pi", "md", "mc", "mi", "si", "ss", "pa", "np",
    "ad", "chld", "yad", "adlt", "se", "wn", "mn", "fem", "male", "pw", "bc", "vet", "adm", "mf",
    "cj", "du", "duo", "co", "hv", "trma", "xa", "dv",
    "sp", "ah", "fx", "nx", "f4", "f17", "f19", "f25", "f28", "f30", "f31", "f35", "f36", "f42",
    "f43", "f47", "f66", "f67", "f70", "f81", "f92", "n24", "n40",
)  # fmt: skip

#: Export codes new since 2015, or meaning something else than in 2015: (attribute, vocabulary code).
#: The codes of the export not mapped at all are services the directory does not list (therapies,
#: antipsychotics, funding, facility types, accreditations...), and `dt`, detox of unstated setting
#: (as in 2015). Every buprenorphine code below sits only on rows that have `bu` as well.
EXPORT_CODES: dict[str, tuple[str, str]] = {
    "f37": ("languages", "hmn"),  # Hmong; F37 was Pidgin in 2015
    "phdt": ("levels_of_care", "partial_hospitalization"),  # MH rows' partial hospitalization/day treatment
    "meth": ("medications", "methadone"),  # on every mm row and 5 more
    "bwn": ("medications", "buprenorphine"),  # with naloxone
    "bwon": ("medications", "buprenorphine"),  # without naloxone
    "beri": ("medications", "buprenorphine"),  # extended-release, injectable
    "bsdm": ("medications", "buprenorphine"),  # sub-dermal implant
    "itu": ("payment_options", "ihs_tribal"),  # IHS/Tribal/Urban (ITU) funds
    "snr": ("populations", "seniors"),  # the age group; se is the special program
    "tay": ("populations", "young_adults"),  # the special program; yad is the age group
    # Detox by substance ("Alcohol Detoxification"...): only on rows that offer detox (dt).
    "adtx": ("detox_substances", "alcohol"),
    "odtx": ("detox_substances", "opioids"),
    "bdtx": ("detox_substances", "benzodiazepines"),
    "cdtx": ("detox_substances", "cocaine"),
    "mdtx": ("detox_substances", "methamphetamine"),
}

#: Every mapped export code: (attribute, vocabulary code).
CODE_MAP: dict[str, tuple[str, str]] = {
    **{code: nssats.CODE_MAP[code.upper()] for code in SHARED_CODES},
    **EXPORT_CODES,
}

#: Columns an export must have: a facility's own, and every code this importer reads.
REQUIRED_COLUMNS = (*FACILITY_COLUMNS, SUBSTANCE_USE, *CODE_MAP)

#: The locator's name for a download, e.g. FindTreament_Facility_listing_2025_08_19_150020.xlsx.
_DOWNLOAD_NAME = re.compile(r"_listing_([0-9]{4})_([0-9]{2})_([0-9]{2})(?:_|\.|$)", re.IGNORECASE)
_FLAGS = {"1": True, "": False}

#: Rows of a file, header first: (line or spreadsheet row number, cells as text). Each call reads
#: the file again from its start.
RowSource = Callable[[], Iterator[tuple[int, list[str]]]]


class MissingSourceDate(ValueError):
    """The day of the download is neither given nor in the file's name."""


class UnreadableWorkbook(ValueError):
    """An .xlsx file that openpyxl cannot read (not a workbook, or damaged)."""


def download_date(path: str | Path) -> date | None:
    """The day in the locator's name for a download (`..._listing_2025_08_19_...`), if the name has one."""
    match = _DOWNLOAD_NAME.search(Path(path).name)
    if match is None:
        return None
    try:
        return date(*map(int, match.groups()))
    except ValueError:
        return None


def source_date_of(path: str | Path, source_date: date | None) -> date:
    """The day of the download: `source_date` if given, else the one in the file's name."""
    found = source_date or download_date(path)
    if found is None:
        raise MissingSourceDate(
            f"{path}: the file name has no download date (the locator names its downloads "
            "FindTreament_Facility_listing_YYYY_MM_DD_...); give the day of the download"
        )
    return found


def read_export(stream: TextIO, path: str, source_date: date | None = None) -> Iterator[ParsedRow]:
    """Read the export saved as CSV (the stream must be seekable: the file is read twice)."""
    return read_rows(_csv_rows(stream), path, source_date_of(path, source_date))


@contextmanager
def open_export(path: str | Path, source_date: date | None = None) -> Iterator[Iterator[ParsedRow]]:
    """The rows of an export file, read as CSV or, for a name ending in .xlsx, as a workbook."""
    name = str(path)
    day = source_date_of(path, source_date)
    if Path(path).suffix.lower() != ".xlsx":
        with open(path, encoding="utf-8-sig", newline="") as stream:
            yield read_rows(_csv_rows(stream), name, day)
        return
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, ParseError, ValueError) as error:
        raise UnreadableWorkbook(f"is not a readable .xlsx workbook ({error})") from error
    try:
        yield read_rows(_sheet_rows(workbook.worksheets[0]), name, day)
    finally:
        workbook.close()


def _csv_rows(stream: TextIO) -> RowSource:
    """The CSV's rows (blank lines skipped); line = where the row starts."""

    def rows() -> Iterator[tuple[int, list[str]]]:
        stream.seek(0)
        reader = csv.reader(stream)
        line = 0
        for cells in reader:
            start, line = line + 1, reader.line_num
            if cells:
                yield start, cells

    return rows


def _sheet_rows(sheet: Any) -> RowSource:
    """The sheet's rows, cells as the CSV would hold them (empty rows skipped, a row's empty cells
    past the header's last column dropped, missing ones added); line = the spreadsheet's row number."""

    def rows() -> Iterator[tuple[int, list[str]]]:
        width = 0
        try:
            for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
                cells = [_cell_text(value) for value in values]
                while len(cells) > width > 0 and not cells[-1]:
                    cells.pop()
                if not any(cells):
                    continue
                width = width or len(cells)
                yield number, cells + [""] * (width - len(cells))
        except (zipfile.BadZipFile, KeyError, ParseError, ValueError, EOFError) as error:
            raise UnreadableWorkbook(f"is not a readable .xlsx workbook ({error})") from error

    return rows


def _cell_text(value: object) -> str:
    """A cell as the CSV would hold it: whole numbers without ".0", nothing as ""."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat()
    return str(value)


@dataclass
class _Site:
    """The valid rows read so far of one site (same name, street and ZIP), merged."""

    record: CenterRecord
    rows: int = 1
    alt_names: list[str] = field(default_factory=list)


def read_rows(rows: RowSource, path: str, source_date: date) -> Iterator[ParsedRow]:
    """Read an export's rows, merging the rows of one site and leaving out mental-health-only rows.

    Two passes, so that memory holds only the sites whose rows are still to come: the first notes
    each site's last row (an id and a number per site), the second yields a site's listing at it.
    """
    header_line, header = next(rows(), (1, []))
    header = [name.strip() for name in header]
    if issue := _header_issue(header, path, header_line):
        yield ParsedRow(header_line, None, [issue])
        return
    position = {name: k for k, name in enumerate(header)}
    last_line: dict[str, int] = {}
    for line, cells in _data_rows(rows):
        if len(cells) == len(header) and not _left_out(cells, position):
            last_line[_site_key(cells, position)] = line
    sites: dict[str, _Site] = {}
    for line, cells in _data_rows(rows):
        if len(cells) != len(header):
            yield ParsedRow(line, None, [_field_count_issue(cells, len(header), path, line)])
            continue
        if _left_out(cells, position):
            yield ParsedRow(line, None, [], left_out=LEFT_OUT_MENTAL_HEALTH_ONLY)
            continue
        key = _site_key(cells, position)
        parsed = _parse_row(cells, position, path, line, key, source_date)
        if parsed.record is None:
            yield parsed
        elif key in sites:
            _merge(sites[key], parsed.record)
        else:
            sites[key] = _Site(parsed.record, alt_names=[parsed.record.alt_name] if parsed.record.alt_name else [])
        if last_line.get(key) == line and key in sites:
            site = sites.pop(key)
            for attribute in MULTI_VALUED:
                getattr(site.record, attribute).sort()
            yield ParsedRow(site.record.line, site.record, [], merged=site.rows - 1)


def _data_rows(rows: RowSource) -> Iterator[tuple[int, list[str]]]:
    """The rows after the header."""
    iterator = rows()
    next(iterator, None)
    yield from iterator


def _header_issue(header: list[str], path: str, line: int) -> ImportIssue | None:
    missing = [name for name in REQUIRED_COLUMNS if name not in header]
    repeated = sorted({name for name in header if name and header.count(name) > 1})
    if not missing and not repeated:
        return None
    problems = []
    if missing:
        problems.append(f"missing columns {', '.join(missing)}")
    if repeated:
        problems.append(f"repeated columns {', '.join(repeated)}")
    return ImportIssue(
        path,
        line,
        "(header)",
        ",".join(header),
        "; ".join(problems) + "; expected FindTreatment.gov's facility download, with the columns "
        f"{','.join(FACILITY_COLUMNS)} and one column per service code ({','.join([SUBSTANCE_USE, *CODE_MAP])}...)",
    )


def _field_count_issue(cells: list[str], width: int, path: str, line: int) -> ImportIssue:
    return ImportIssue(
        path, line, "(row)", ",".join(cells), f"has {len(cells)} fields; expected {width}, one per column"
    )


def _left_out(cells: list[str], position: dict[str, int]) -> bool:
    """An MH row without substance-use treatment: not a listing of this directory."""
    kind = cells[position["type_facility"]].strip().upper()
    return kind == "MH" and not cells[position[SUBSTANCE_USE]].strip()


def _site_key(cells: list[str], position: dict[str, int]) -> str:
    """The site's external id: `findtreatment-gov:<name>-<street>-<zip>`."""
    name = slugify(cells[position["name1"]], max_length=80) or "center"
    street = slugify(cells[position["street1"]], max_length=60)
    zip_code = cells[position["zip"]].strip()[:5].zfill(5)
    return f"{SOURCE}:{'-'.join(part for part in (name, street, zip_code) if part)}"


def _parse_row(
    cells: list[str], position: dict[str, int], path: str, line: int, external_id: str, source_date: date
) -> ParsedRow:
    """One row as a record of its own, or its issues."""
    check = RowChecker(path, line)

    def cell(column: str) -> str:
        return cells[position[column]]

    kind = cell("type_facility").strip().upper()
    if kind not in ("SU", "MH"):
        check.fail("type_facility", cell("type_facility"), "must be SU (substance use) or MH (mental health)")
    record = CenterRecord(
        external_id=external_id,
        name=check.text("name1", cell("name1"), required=True) or "",
        alt_name=check.text("name2", cell("name2")),
        street1=check.text("street1", cell("street1")),
        street2=check.text("street2", cell("street2")),
        city=check.text("city", cell("city"), required=True, max_len=100) or "",
        state=check.state("state", cell("state")) or "",
        zip=check.zip_code("zip", cell("zip"), pad=True) or "",
        phone=check.phone("phone", cell("phone")),
        intake_phone=check.phone("intake1", cell("intake1")),
        website=check.website("website", _website(cell("website"))),
        latitude=check.coordinate("latitude", cell("latitude"), 90, digits=6) or 0.0,
        longitude=check.coordinate("longitude", cell("longitude"), 180, digits=6) or 0.0,
        source=SOURCE,
        source_vintage=source_date.year,
        source_date=source_date,
        line=line,
    )
    for code in (SUBSTANCE_USE, *CODE_MAP):
        value = cell(code).strip()
        if value not in _FLAGS:
            check.fail(code, value, "must be 1 (offered) or empty (not offered)")
        elif _FLAGS[value] and code in CODE_MAP:
            attribute, vocabulary_code = CODE_MAP[code]
            codes = getattr(record, attribute)
            if vocabulary_code not in codes:
                codes.append(vocabulary_code)
    if check.issues:
        return ParsedRow(line, None, check.issues)
    return ParsedRow(line, record, [])


def _website(value: str) -> str:
    """A web address as the locator meant it: a bare "http://" is none, and an address broken by a
    tab or space ("http://w<tab>www.example.org/") is its scheme and its last piece."""
    text = value.strip()
    if text in NO_WEBSITE:
        return ""
    pieces = text.split()
    if len(pieces) > 1 and "://" in pieces[0]:
        return pieces[0].split("://")[0] + "://" + pieces[-1].split("://")[-1]
    return text


def _merge(site: _Site, record: CenterRecord) -> None:
    """Add a later row of the site: its codes, its program name, and contact details the first lacked."""
    first = site.record
    site.rows += 1
    for attribute in MULTI_VALUED:
        merged = getattr(first, attribute)
        merged.extend(code for code in getattr(record, attribute) if code not in merged)
    names = [*site.alt_names, record.alt_name]
    if record.alt_name and record.alt_name not in site.alt_names and len(" / ".join(names)) <= 200:
        site.alt_names = names
        first.alt_name = " / ".join(names)
    first.phone = first.phone or record.phone
    first.intake_phone = first.intake_phone or record.intake_phone
    first.website = first.website or record.website
