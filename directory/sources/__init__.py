"""Importers: each source format's reader, and the loader that writes records."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import TextIO

from sqlalchemy import text
from sqlalchemy.orm import Session

from directory.sources import findtreatment_export
from directory.sources.centers_csv import read_centers_csv
from directory.sources.findtreatment import read_findtreatment
from directory.sources.loader import ImportReport, import_rows
from directory.sources.nssats import read_nssats
from directory.sources.records import ImportIssue, ParsedRow

Reader = Callable[[TextIO, str], Iterator[ParsedRow]]

FORMATS: dict[str, Reader] = {
    "centers": read_centers_csv,
    "nssats": read_nssats,
    "findtreatment": read_findtreatment,
    findtreatment_export.FORMAT: findtreatment_export.read_export,
}


#: Rows written by one import after which the planner's statistics are refreshed at once.
REFRESH_STATISTICS_AFTER = 1000


def refresh_statistics(session: Session) -> None:
    """PostgreSQL: ANALYZE the directory's tables, so the next searches get good plans right after
    a large import (until autovacuum gets to it, a fresh table's plans can be 30x slower)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ANALYZE centers, center_attributes"))
        session.commit()


def import_file(
    session: Session,
    path: str | Path,
    file_format: str = "centers",
    *,
    skip_invalid: bool = False,
    dry_run: bool = False,
    overwrite_center_edits: bool = False,
    covers: frozenset[str] = frozenset(),
    source_date: date | None = None,
) -> ImportReport:
    """Import one file of the given format (see `FORMATS`) into the database; the file is complete
    for the states it `covers` (directory.sources.supersession.parse_covers).

    `source_date`, the day of a FindTreatment.gov download, only for that format: when not given,
    it comes from the file's name, and without either `MissingSourceDate` is raised.
    """
    name = str(path)
    if source_date is not None and file_format != findtreatment_export.FORMAT:
        raise ValueError(f"a source date is given with the files of {findtreatment_export.FORMAT} only")
    try:
        with _parsed_rows(path, file_format, source_date) as rows:
            report = import_rows(
                session,
                rows,
                name,
                skip_invalid=skip_invalid,
                dry_run=dry_run,
                overwrite_center_edits=overwrite_center_edits,
                covers=covers,
            )
        if report.written and report.created + report.updated + report.matched >= REFRESH_STATISTICS_AFTER:
            refresh_statistics(session)
        return report
    except UnicodeDecodeError:
        line, offset, bad = _first_undecodable(path)
        report = ImportReport()
        report.issues.append(
            ImportIssue(name, line, "(file)", repr(bad), f"is not UTF-8 text at byte {offset}; save the file as UTF-8")
        )
        report.invalid_rows = 1
        return report
    except csv.Error as error:
        report = ImportReport()
        message = f"is not a readable CSV file: {error}"
        if "field larger than field limit" in str(error):
            message += "; a field this long usually means a quote that is opened and never closed"
        report.issues.append(ImportIssue(name, _line_of_csv_error(path), "(file)", "", message))
        report.invalid_rows = 1
        return report
    except findtreatment_export.UnreadableWorkbook as error:
        report = ImportReport()
        report.issues.append(ImportIssue(name, 0, "(file)", "", str(error)))
        report.invalid_rows = 1
        return report


@contextmanager
def _parsed_rows(path: str | Path, file_format: str, source_date: date | None) -> Iterator[Iterator[ParsedRow]]:
    """The file's rows as its format's reader parses them (a FindTreatment.gov download: CSV or .xlsx)."""
    if file_format == findtreatment_export.FORMAT:
        with findtreatment_export.open_export(path, source_date) as rows:
            yield rows
        return
    with open(path, encoding="utf-8-sig", newline="") as stream:
        yield FORMATS[file_format](stream, str(path))


def _line_of_csv_error(path: str | Path) -> int:
    """The line where Python's CSV reader fails on this file (0 if it does not fail on its own):
    its error does not say where, so the file is read again up to it."""
    with open(path, encoding="utf-8-sig", newline="") as stream:
        reader = csv.reader(stream)
        try:
            for _ in reader:
                pass
        except csv.Error:
            return reader.line_num
    return 0


def _first_undecodable(path: str | Path) -> tuple[int, int, bytes]:
    """The line, the offset in the file and the bytes of the first thing that is not UTF-8.

    (The decoding error itself only knows its place in one read buffer.) Line by line: a newline
    byte is never part of a longer UTF-8 sequence, so each line decodes on its own.
    """
    offset = 0
    with open(path, "rb") as stream:
        for number, line in enumerate(stream, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as error:
                return number, offset + error.start, line[error.start : error.end]
            offset += len(line)
    return 0, offset, b""
