"""Command-line interface: `flask --app directory init-db`, `centers import|sync|export`, `users create`,
`api-tokens create`."""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext
from sqlalchemy import func, select

from directory import schema
from directory.accounts.service import (
    SYSTEM,
    AccountError,
    create_invitation,
    create_user,
    find_user,
    issue_api_token,
)
from directory.auth.links import invitation_url
from directory.extensions import db
from directory.models import Center
from directory.models.accounts import ROLE_LABELS, Role
from directory.sources import FORMATS, import_file
from directory.sources.centers_csv import write_centers_csv
from directory.sources.download import SyncError, sync
from directory.sources.findtreatment_export import FORMAT as FINDTREATMENT_EXPORT
from directory.sources.findtreatment_export import MissingSourceDate
from directory.sources.hsds import write_services
from directory.sources.loader import ImportReport, center_to_record, iter_centers, write_outcomes_csv
from directory.sources.seed import build_seed
from directory.sources.supersession import parse_covers


@click.command("init-db")
@with_appcontext
@click.option("--seed", is_flag=True, help="Load the seed directory (SEED_FILE) if there are no centers yet.")
def init_db_command(seed: bool) -> None:
    """Create or upgrade the database schema (safe to run again)."""
    before = schema.current_revision(db.engine)
    schema.upgrade(db.engine)
    head = schema.head_revision(db.engine)
    if before is None:
        click.echo(f"Database schema created (migration {head}).")
    elif before != head:
        click.echo(f"Database schema upgraded from migration {before} to {head}.")
    else:
        click.echo(f"Database schema is up to date (migration {head}).")
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


FORMAT_HELP = "centers: the project's CSV; nssats: SAMHSA's 2015 directory; findtreatment: a FindTreatment.gov pull."
skip_invalid_option = click.option(
    "--skip-invalid", is_flag=True, help="Import the valid rows and report the invalid ones."
)
dry_run_option = click.option("--dry-run", is_flag=True, help="Validate and count, but change nothing.")
covers_option = click.option(
    "--covers",
    metavar="STATES",
    help="The file is complete for these states (MA or MA,RI; US for all): older listings there that "
    "it no longer has are marked superseded.",
)
report_option = click.option(
    "--report",
    "report_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Also write a CSV of each row matched or left out and each listing superseded or kept, with why.",
)


@centers_cli.command("import")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(list(FORMATS)),
    default="centers",
    show_default=True,
    help=FORMAT_HELP,
)
@skip_invalid_option
@dry_run_option
@click.option(
    "--overwrite-center-edits",
    is_flag=True,
    help="Also update listings their center has edited (normally kept as the center left them).",
)
@covers_option
@report_option
@click.option(
    "--source-date",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help=f"{FINDTREATMENT_EXPORT} only: the day of the download, YYYY-MM-DD "
    "(needed when the file's name does not carry it).",
)
def import_command(
    path: str,
    file_format: str,
    skip_invalid: bool,
    dry_run: bool,
    overwrite_center_edits: bool,
    covers: str | None,
    report_path: str | None,
    source_date: datetime | None,
) -> None:
    """Import centers from a file; by default a file with any invalid row changes nothing."""
    _require_current_schema()
    if source_date is not None and file_format != FINDTREATMENT_EXPORT:
        raise click.UsageError(f"--source-date goes with --format {FINDTREATMENT_EXPORT} only.")
    states = _covered_states(covers)
    try:
        report = import_file(
            db.session,
            path,
            file_format,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            overwrite_center_edits=overwrite_center_edits,
            covers=states,
            source_date=source_date.date() if source_date else None,
        )
    except MissingSourceDate as error:
        raise click.UsageError(f"{error} with --source-date YYYY-MM-DD.") from None
    _finish_import(report, skip_invalid=skip_invalid, dry_run=dry_run, report_path=report_path)


@centers_cli.command("sync")
@click.argument("url")
@click.option("--format", "file_format", type=click.Choice(list(FORMATS)), required=True, help=FORMAT_HELP)
@skip_invalid_option
@dry_run_option
@covers_option
@report_option
def sync_command(
    url: str, file_format: str, skip_invalid: bool, dry_run: bool, covers: str | None, report_path: str | None
) -> None:
    """Download the file at URL (http or https) and import it, all or nothing as `centers import`;
    a failed download changes nothing."""
    _require_current_schema()
    try:
        result = sync(
            db.session,
            url,
            file_format,
            skip_invalid=skip_invalid,
            dry_run=dry_run,
            covers=_covered_states(covers),
            max_bytes=current_app.config["DIRECTORY_SYNC_MAX_BYTES"],
        )
    except SyncError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Downloaded {result.downloaded_bytes:,} bytes from {result.url}.")
    _finish_import(result.report, skip_invalid=skip_invalid, dry_run=dry_run, report_path=report_path)


EXPORT_FORMATS = {
    "centers": "the project's CSV (re-importable as is; superseded listings are left out)",
    "hsds": "Open Referral HSDS 3.0 services as JSON, one a line (superseded listings as inactive)",
}


@centers_cli.command("build-seed")
@click.option(
    "--data",
    "data_dir",
    type=click.Path(exists=True, file_okay=False),
    default="../shared/data",
    show_default=True,
    help="The folder holding the public sources (directory.sources.seed lists them).",
)
def build_seed_command(data_dir: str) -> None:
    """Import the seed's public sources, in order, into this (empty) directory; then `centers export`."""
    _require_current_schema()
    if db.session.scalar(select(func.count()).select_from(Center)):
        raise click.ClickException("the directory is not empty: build the seed into a new database")
    for source, report in build_seed(db.session, Path(data_dir)):
        click.echo(f"{source.path}:")
        _finish_import(report, skip_invalid=False, dry_run=False)


@centers_cli.command("export")
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.option(
    "--format",
    "file_format",
    type=click.Choice(list(EXPORT_FORMATS)),
    default="centers",
    show_default=True,
    help="; ".join(f"{name}: {what}" for name, what in EXPORT_FORMATS.items()) + ".",
)
def export_command(path: str, file_format: str) -> None:
    """Write the directory to PATH: by default every listing in search in the project's CSV format
    (superseded listings are left out and counted); with --format hsds every listing as an HSDS service."""
    _require_current_schema()
    superseded = db.session.scalar(select(func.count()).where(Center.superseded_at.is_not(None)))
    with open(path, "w", encoding="utf-8", newline="") as stream:
        if file_format == "hsds":
            count = write_services(stream, iter_centers(db.session, superseded=True))
            inactive = f" ({superseded} superseded listings as inactive)" if superseded else ""
            click.echo(f"Exported {count} HSDS services to {path}{inactive}.")
            return
        count = write_centers_csv(stream, (center_to_record(c) for c in iter_centers(db.session)))
    left_out = f" ({superseded} superseded listings left out)" if superseded else ""
    click.echo(f"Exported {count} centers to {path}{left_out}.")


def _covered_states(covers: str | None) -> frozenset[str]:
    try:
        return parse_covers(covers) if covers is not None else frozenset()
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--covers") from None


def _finish_import(report: ImportReport, *, skip_invalid: bool, dry_run: bool, report_path: str | None = None) -> None:
    """Print the report (and write its details to `report_path`); exit with status 1 if the import was refused."""
    _print_report(report, dry_run=dry_run)
    if report_path:
        with open(report_path, "w", encoding="utf-8", newline="") as stream:
            write_outcomes_csv(stream, report.outcomes)
        click.echo(f"Wrote {len(report.outcomes)} rows of details to {report_path}.")
    # With --skip-invalid a file that could not be read at all still wrote nothing: a failure.
    if (report.invalid_rows and not skip_invalid) or not (report.written or dry_run):
        sys.exit(1)


def _print_report(report: ImportReport, *, dry_run: bool) -> None:
    for issue in report.issues:
        click.echo(f"error: {issue}", err=True)
    verb = "would be" if dry_run or not report.written else ""
    counts = report.counts()
    if report.written:
        click.echo(f"Imported: {counts}.")
        _print_outcomes(report, "")
    elif dry_run:
        click.echo(f"Dry run, nothing changed. Rows {verb} {counts}.".replace("  ", " "))
        _print_outcomes(report, "would be ")
    else:
        click.echo(
            f"Nothing imported: {report.invalid_rows} invalid rows (listed above). "
            "Fix them, or use --skip-invalid to import the valid rows only.",
            err=True,
        )


#: How many names `_print_outcomes` shows of each kind.
SHOWN_NAMES = 5


def _print_outcomes(report: ImportReport, would: str) -> None:
    """Rows matched and left out, listings superseded and kept, and ties: how many, the first few."""
    if report.matched:
        click.echo(f"{report.matched} rows {would}matched to the listing of the same place from an older source.")
    if report.not_superseded_because:
        click.echo(f"Nothing superseded: {report.not_superseded_because}.")
    for outcome, heading in (
        ("superseded", f"listings {would}superseded (out of search and routing)"),
        ("kept", "older listings kept although missing from the file"),
        ("left out", "rows left out"),
        ("tie", "rows tied with another for the same listing (created as new listings)"),
    ):
        found = [o for o in report.outcomes if o.outcome == outcome]
        if found or (outcome == "superseded" and report.covers):
            click.echo(f"{len(found)} {heading}.")
        for o in found[:SHOWN_NAMES]:
            where = f"line {o.line}: " if o.line else ""
            click.echo(f"  {where}{o.name} (center id {o.center_id}): {o.why}")
        if len(found) > SHOWN_NAMES:
            click.echo(f"  ... and {len(found) - SHOWN_NAMES} more (--report PATH lists them all).")


users_cli = AppGroup("users", help="Create accounts.")


@users_cli.command("create")
@click.argument("email")
@click.option("--role", required=True, help="admin, referral_staff or center_staff.")
@click.option("--center", "centers", multiple=True, help="A center id, for center staff; repeat for several.")
def create_user_command(email: str, role: str, centers: tuple[str, ...]) -> None:
    """Create an account for EMAIL.

    With a password on standard input (its first line), the account is ready to use:
    `printf '%s\\n' "$PASSWORD" | flask --app directory users create EMAIL --role admin`.
    Otherwise this prints a one-time invitation link for the person to choose their own password.
    """
    _require_current_schema()
    center_ids = _center_ids(centers)
    password = _password_from_stdin()
    try:
        if password is None:
            invitation, token = create_invitation(db.session, email, role, center_ids)
        else:
            user = create_user(db.session, email, role, center_ids, password=password)
    except AccountError as error:
        db.session.rollback()
        raise click.ClickException(str(error)) from None
    db.session.commit()
    if password is None:
        who = _describe(invitation.email, invitation.role, invitation.center_ids)
        click.echo(f"Invitation for {who}. Send this link to them; it works once, within 72 hours:", err=True)
        click.echo(invitation_url(token))
    else:
        click.echo(f"Created the account of {_describe(user.email, user.role, [c.id for c in user.centers])}.")


def _center_ids(values: tuple[str, ...]) -> list[int]:
    wrong = [value for value in values if not value.strip().isdigit()]
    if wrong:
        raise click.ClickException(f"--center takes a center id (a number), not {', '.join(map(repr, wrong))}.")
    return [int(value) for value in values]


def _password_from_stdin() -> str | None:
    """The first line of standard input when it is piped in (not a terminal) and not empty."""
    stdin = sys.stdin
    if stdin.isatty():
        return None
    line = stdin.readline()
    return line.rstrip("\r\n") if line else None


def _describe(email: str, role: str, center_ids: list[int]) -> str:
    text = f"{email} ({ROLE_LABELS[Role(role)].lower()}"
    if center_ids:
        text += f" of center{'s' if len(center_ids) > 1 else ''} {', '.join(map(str, sorted(center_ids)))}"
    return text + ")"


api_tokens_cli = AppGroup("api-tokens", help="Issue API tokens.")


@api_tokens_cli.command("create")
@click.argument("email")
@click.option("--name", default="command line", show_default=True, help="So the person can tell their tokens apart.")
def create_api_token_command(email: str, name: str) -> None:
    """Issue an API token for the account of EMAIL; prints it once (only its hash is stored)."""
    _require_current_schema()
    user = find_user(db.session, email)
    if user is None:
        raise click.ClickException(f"No account has the email address {email!r}.")
    if not user.active:
        raise click.ClickException(f"The account of {user.email} is deactivated; reactivate it first.")
    api_token, token = issue_api_token(db.session, user, name, actor=SYSTEM)
    db.session.commit()
    click.echo(f"API token {api_token.name!r} for {user.email}. Store it now: it cannot be shown again.", err=True)
    click.echo(token)
