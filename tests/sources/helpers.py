"""Small input files of each import format, and ways to look at the database around an import."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from click.testing import Result
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select

from directory.extensions import db
from directory.models import Center
from directory.sources.findtreatment import COLUMNS as FINDTREATMENT_COLUMNS
from directory.sources.nssats import COLUMNS as NSSATS_COLUMNS
from directory.sources.records import CSV_COLUMNS


def centers_row(n: int = 1, **fields: str) -> dict[str, str]:
    """A valid row of the project's CSV format; `n` keeps rows apart."""
    row = {
        "external_id": f"test:{n}",
        "name": f"Harbor Light {n}",
        "alt_name": "",
        "street1": f"{n} Mission Street",
        "street2": "",
        "city": "San Francisco",
        "state": "CA",
        "zip": "94103",
        "phone": "(415) 503-3000",
        "intake_phone": "",
        "website": "https://example.org",
        "latitude": "37.7726",
        "longitude": "-122.4097",
        "levels_of_care": "medical_detox;residential",
        "detox_substances": "alcohol;opioids",
        "payment_options": "free_care",
        "medications": "",
        "populations": "adults",
        "languages": "asl;es",
        "accepting_referrals": "true",
        "beds_available": "4",
        "detox_stay_days": "7",
        "source": "test",
        "source_vintage": "2025",
        "source_date": "2025-08-19",
        "last_verified_at": "2025-08-01T12:00:00Z",
    }
    row.update(fields)
    return row


def nssats_row(n: int = 1, **fields: str) -> dict[str, str]:
    """A valid row of SAMHSA's 2015 N-SSATS directory."""
    row = {
        "Name1": f"Harbor House {n}",
        "Name2": "",
        "Name3": "",
        "Address1": f"{n} Dothan Road",
        "Address2": "",
        "Address3": "",
        "City": "Abbeville",
        "State": "AL",
        "ZIP_Code": "36310",
        "Contact": "(334)673-2143",
        "Note": "",
        "Keys": "SA/OP/SF/",
        "loc_ID": f"{n}AL36310",
        "Longitude": "-85.2528",
        "Latitude": "31.5534",
        "Match Score": "100.0",
    }
    row.update(fields)
    return row


def findtreatment_row(n: int = 1, **fields: str) -> dict[str, str]:
    """A valid row of a FindTreatment.gov locator pull."""
    row = {
        "Name": f"Harbor Light {n}",
        "City": "San Francisco",
        "State": "CA",
        "ZIP": "94103",
        "Phone": "415-503-3000",
        "Address": "",
        "Website": "https://example.org",
        "Latitude": "37.7726028",
        "Longitude": "-122.4097104",
        "Residential Services": "Residential/24-hour residential",
        "All Services": "Substance use treatment; Residential/24-hour residential; Cash or self-payment",
    }
    row.update(fields)
    return row


FORMATS: dict[str, tuple[tuple[str, ...], Any]] = {
    "centers": (CSV_COLUMNS, centers_row),
    "nssats": (NSSATS_COLUMNS, nssats_row),
    "findtreatment": (FINDTREATMENT_COLUMNS, findtreatment_row),
}


def write_csv(path: Path, header: tuple[str, ...] | list[str], rows: list[dict[str, str]]) -> Path:
    """Write rows (dicts keyed by header column) as a CSV file."""
    with open(path, "w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(header)
        writer.writerows([row[c] for c in header] for row in rows)
    return path


def write_rows(path: Path, file_format: str, *overrides: dict[str, str]) -> Path:
    """A file of `file_format` with one valid row per override dict (row n+1 gets overrides[n])."""
    header, make_row = FORMATS[file_format]
    return write_csv(path, header, [make_row(n, **fields) for n, fields in enumerate(overrides, start=1)])


def run_import(runner: FlaskCliRunner, path: Path, file_format: str = "centers", *options: str) -> Result:
    """`flask centers import PATH --format FORMAT [options]`."""
    return runner.invoke(args=["centers", "import", str(path), "--format", file_format, *options])


def run_export(runner: FlaskCliRunner, path: Path) -> Result:
    """`flask centers export PATH`."""
    result = runner.invoke(args=["centers", "export", str(path)])
    assert result.exit_code == 0, result.output
    return result


def count_centers(app: Flask) -> int:
    """How many centers are committed, seen from a connection of its own."""
    with app.app_context(), db.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(Center))
