"""The project's own CSV format: `seeds/centers.csv`, `centers export` and `centers import`."""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from typing import TextIO

from directory.sources.records import (
    CSV_COLUMNS,
    MULTI_VALUED,
    OPTIONAL_COLUMNS,
    CenterRecord,
    ImportIssue,
    ParsedRow,
    RowChecker,
    field_count_issue,
    format_timestamp,
)


def read_centers_csv(stream: TextIO, path: str) -> Iterator[ParsedRow]:
    """Read the project's CSV format row by row (streaming), validating every field."""
    reader = csv.DictReader(stream)
    header = reader.fieldnames or []
    missing = [c for c in CSV_COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
    unknown = [c for c in header if c not in CSV_COLUMNS]
    if missing or unknown:
        problems = []
        if missing:
            problems.append(f"missing columns {', '.join(missing)}")
        if unknown:
            problems.append(f"unknown columns {', '.join(unknown)}")
        yield ParsedRow(
            1,
            None,
            [
                ImportIssue(
                    path, 1, "(header)", ",".join(header), "; ".join(problems) + f"; expected: {','.join(CSV_COLUMNS)}"
                )
            ],
        )
        return
    line = 1
    for row in reader:
        start, line = line + 1, reader.line_num
        if issue := field_count_issue(row, header, path, start):
            yield ParsedRow(start, None, [issue])
            continue
        yield parse_center_row(row, path, start)


def parse_center_row(row: dict[str, str | None], path: str, line: int) -> ParsedRow:
    """Validate one row of the project's CSV format."""
    check = RowChecker(path, line)
    record = CenterRecord(
        external_id=check.external_id("external_id", row["external_id"]) or "",
        name=check.text("name", row["name"], required=True) or "",
        alt_name=check.text("alt_name", row["alt_name"]),
        street1=check.text("street1", row["street1"]),
        street2=check.text("street2", row["street2"]),
        city=check.text("city", row["city"], required=True, max_len=100) or "",
        state=check.state("state", row["state"]) or "",
        zip=check.zip_code("zip", row["zip"]) or "",
        phone=check.phone("phone", row["phone"]),
        intake_phone=check.phone("intake_phone", row["intake_phone"]),
        website=check.website("website", row["website"]),
        latitude=_or_zero(check.coordinate("latitude", row["latitude"], 90)),
        longitude=_or_zero(check.coordinate("longitude", row["longitude"], 180)),
        accepting_referrals=check.boolean("accepting_referrals", row["accepting_referrals"], default=None),
        beds_available=check.integer("beds_available", row["beds_available"], low=0, high=10000),
        detox_stay_days=check.integer("detox_stay_days", row["detox_stay_days"], low=1, high=365),
        source=check.text("source", row["source"], required=True, max_len=60) or "",
        source_vintage=check.integer("source_vintage", row["source_vintage"], low=1900, high=2100),
        source_date=check.day("source_date", row.get("source_date")),
        last_verified_at=check.timestamp("last_verified_at", row["last_verified_at"]),
        line=line,
    )
    for kind in MULTI_VALUED:
        setattr(record, kind, check.codes(kind, row.get(kind), kind))
    if check.issues:
        return ParsedRow(line, None, check.issues)
    return ParsedRow(line, record, [])


def _or_zero(value: float | None) -> float:
    return 0.0 if value is None else value


def write_centers_csv(stream: TextIO, records: Iterable[CenterRecord]) -> int:
    """Write records in the project's CSV format; returns how many rows were written."""
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for record in records:
        writer.writerow(record_to_row(record))
        count += 1
    return count


def record_to_row(record: CenterRecord) -> list[str]:
    """One record as the project's CSV columns, in order."""
    values: dict[str, str] = {}
    for column in CSV_COLUMNS:
        value = getattr(record, column)
        if column in MULTI_VALUED:
            values[column] = ";".join(value)
        elif column == "last_verified_at":
            values[column] = format_timestamp(value)
        elif column == "accepting_referrals":
            values[column] = "" if value is None else "true" if value else "false"
        elif value is None:
            values[column] = ""
        else:
            values[column] = str(value)
    return [values[c] for c in CSV_COLUMNS]
