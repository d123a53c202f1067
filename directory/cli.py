"""Command-line interface: `flask --app directory init-db`, `centers import`, `centers export`."""

from __future__ import annotations

import sys

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from directory import schema
from directory.extensions import db
from directory.models import Center
from directory.sources import FORMATS, import_file
from directory.sources.centers_csv import write_centers_csv
from directory.sources.loader import ImportReport, center_to_record, iter_centers


@click.command("init-db")
@with_appcontext
@click.option("--seed", is_flag=True, help="Load the seed directory (SEED_FILE) if there are no centers yet.")
def init_db_command(seed: bool) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    schema.upgrade(db.engine)
    click.echo("Database schema is up to date.")
    if seed:
        count = db.session.scalar(select(func.count()).select_from(Center))
        if count:
            click.echo(f"{count} centers already loaded; not seeding.")
            return
        path = current_app.config["SEED_FILE"]
        click.echo(f"Loading the seed directory from {path} (first run; takes a few seconds)...")
        report = import_file(db.session, path, "centers")
        _print_report(report, dry_run=False)
        if not report.written:
            sys.exit(1)


centers_cli = AppGroup("centers", help="Import and export treatment-center listings.")


def _require_current_schema() -> None:
    if not schema.is_current(db.engine):
        raise click.ClickException(
            "The database schema is missing or out of date: run `flask --app directory init-db` first."
        )


@centers_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(list(FORMATS)),
    default="centers",
    show_default=True,
    help="centers: the project's CSV; nssats: SAMHSA's 2015 directory; findtreatment: a FindTreatment.gov pull.",
)
@click.option("--skip-invalid", is_flag=True, help="Import the valid rows and report the invalid ones.")
@click.option("--dry-run", is_flag=True, help="Validate and count, but change nothing.")
@click.option(
    "--overwrite-center-edits",
    is_flag=True,
    help="Also update listings their center has edited (normally kept as the center left them).",
)
def import_command(
    path: str, file_format: str, skip_invalid: bool, dry_run: bool, overwrite_center_edits: bool
) -> None:
    """Import centers from a CSV file; by default a file with any invalid row changes nothing."""
    _require_current_schema()
    report = import_file(
        db.session,
        path,
        file_format,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
        overwrite_center_edits=overwrite_center_edits,
    )
    _print_report(report, dry_run=dry_run)
    if report.invalid_rows and not skip_invalid:
        sys.exit(1)


@centers_cli.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
def export_command(path: str) -> None:
    """Write every center to PATH in the project's CSV format (re-importable as is)."""
    _require_current_schema()
    with open(path, "w", encoding="utf-8", newline="") as stream:
        count = write_centers_csv(stream, (center_to_record(c) for c in iter_centers(db.session)))
    click.echo(f"Exported {count} centers to {path}.")


def _print_report(report: ImportReport, *, dry_run: bool) -> None:
    for issue in report.issues:
        click.echo(f"error: {issue}", err=True)
    verb = "would be" if dry_run or not report.written else ""
    counts = (
        f"{report.created} created, {report.updated} updated, {report.unchanged} unchanged, "
        f"{report.kept_center_edits} kept as edited by their center, {report.invalid_rows} invalid"
    )
    if report.written:
        click.echo(f"Imported: {counts}.")
    elif dry_run:
        click.echo(f"Dry run, nothing changed. Rows {verb} {counts}.".replace("  ", " "))
    else:
        click.echo(
            f"Nothing imported: {report.invalid_rows} invalid rows (listed above). "
            "Fix them, or use --skip-invalid to import the valid rows only.",
            err=True,
        )
