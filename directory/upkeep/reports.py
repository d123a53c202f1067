"""Problem reports on listings: filed by anyone, resolved by the center's staff or an admin (audited)."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.accounts import audit
from directory.models import ListingReport, User
from directory.models.upkeep import MAX_NOTE_LENGTH, REPORT_OUTCOMES, REPORT_REASONS, ReportReason
from directory.translatable import N_, LowerFirst, Message


class ReportError(ValueError):
    """A report or a resolution that cannot be accepted: messages by form field (English
    `Message`s, which pages show in the person's language)."""

    def __init__(self, fields: Mapping[str, list[str]]) -> None:
        self.fields = dict(fields)
        super().__init__("; ".join(m for messages in self.fields.values() for m in messages))


def _accepted(options: Mapping[str, str]) -> Message:
    """The options' labels as one phrase: "a, b, or c"."""
    labels = [LowerFirst(label) for label in options.values()]
    values = {f"option{i}": label for i, label in enumerate(labels[:-1])}
    some = Message(", ".join(f"%({name})s" for name in values), **values)
    return Message(N_("%(options)s, or %(last)s"), options=some, last=labels[-1])


def _note(raw: object) -> tuple[str | None, list[str]]:
    note = " ".join(str(raw or "").split()) or None
    if note is not None and len(note) > MAX_NOTE_LENGTH:
        return note, [
            Message(
                N_("Keep the note to %(max)s characters (it has %(length)s)."), max=MAX_NOTE_LENGTH, length=len(note)
            )
        ]
    return note, []


def check_report(reason: object, note: object) -> tuple[str, str | None]:
    """A report's reason and note as stored, or ReportError saying what is accepted."""
    errors: dict[str, list[str]] = {}
    if reason not in REPORT_REASONS:
        accepted = _accepted(REPORT_REASONS)
        if reason:
            wrong = Message(
                N_("Choose what is wrong (got %(got)s): %(accepted)s."), got=repr(reason), accepted=accepted
            )
        else:
            wrong = Message(N_("Choose what is wrong: %(accepted)s."), accepted=accepted)
        errors["reason"] = [wrong]
    clean, problems = _note(note)
    if problems:
        errors["note"] = problems
    elif reason == ReportReason.OTHER and clean is None:
        errors["note"] = [Message(N_("Say in a few words what is wrong (“Something else” needs a note)."))]
    if errors:
        raise ReportError(errors)
    return str(reason), clean


def file_report(session: Session, center_id: int, reason: object, note: object, *, now: datetime) -> ListingReport:
    """Add an open report on a listing (the caller commits)."""
    checked_reason, checked_note = check_report(reason, note)
    report = ListingReport(center_id=center_id, reason=checked_reason, note=checked_note, created_at=now)
    session.add(report)
    return report


def open_reports(session: Session, center_id: int | None = None) -> list[ListingReport]:
    """Open reports, oldest first: one center's, or every center's."""
    query = select(ListingReport).where(ListingReport.resolved_at.is_(None))
    if center_id is not None:
        query = query.where(ListingReport.center_id == center_id)
    return list(session.scalars(query.order_by(ListingReport.created_at, ListingReport.id)))


def open_report_counts(session: Session, center_ids: Collection[int]) -> dict[int, int]:
    """How many open reports each of these centers has (centers without any left out)."""
    if not center_ids:
        return {}
    rows = session.execute(
        select(ListingReport.center_id, func.count())
        .where(ListingReport.center_id.in_(center_ids), ListingReport.resolved_at.is_(None))
        .group_by(ListingReport.center_id)
    )
    return {center_id: count for center_id, count in rows}


def reported_since(session: Session, center_ids: Collection[int]) -> dict[int, datetime]:
    """For each of these centers with an open report: when its oldest open report was filed."""
    if not center_ids:
        return {}
    rows = session.execute(
        select(ListingReport.center_id, func.min(ListingReport.created_at))
        .where(ListingReport.center_id.in_(center_ids), ListingReport.resolved_at.is_(None))
        .group_by(ListingReport.center_id)
    )
    return {center_id: created_at for center_id, created_at in rows}


def resolve_report(
    session: Session, report: ListingReport, outcome: object, note: object, *, actor: User, now: datetime
) -> None:
    """Close an open report as fixed or not a problem, with an optional note; audited (the caller commits)."""
    errors: dict[str, list[str]] = {}
    if outcome not in REPORT_OUTCOMES:
        got = f" (got {outcome!r})" if outcome else ""
        errors["outcome"] = [f"Choose how it was resolved{got}: {_accepted(REPORT_OUTCOMES)}."]
    clean, problems = _note(note)
    if problems:
        errors["note"] = problems
    if report.resolved_at is not None:
        errors["outcome"] = ["This report was resolved already."]
    if errors:
        raise ReportError(errors)
    report.resolved_at, report.resolved_by_id = now, actor.id
    report.resolution, report.resolution_note = str(outcome), clean
    audit.record(
        session,
        actor,
        "listing_report.resolve",
        "listing_report",
        report.id,
        changes={"resolution": (None, str(outcome))},
        detail=f"center {report.center_id}, reason {report.reason}",
    )
