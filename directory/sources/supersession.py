"""Listings a newer source no longer has: an import that covers some states (is complete for
them) marks the older listings there that none of its rows matched or updated as superseded.

A superseded listing leaves search and routing (`directory.search.query.filter_conditions`),
keeps its profile with a note, and is never deleted. Listings their center confirmed within the
last 180 days are kept: the center has said more recently than the source that the program is
there. An administrator can restore a superseded listing; only an import newer than the one that
superseded it can supersede it again.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session

from directory.accounts import audit
from directory.models import Center, User
from directory.models.centers import VERIFICATION_VALID_DAYS, is_verified
from directory.sources.provenance import superseded_note
from directory.sources.records import RowOutcome
from directory.vocabulary import STATES

#: `--covers US`: a national file, complete for every state and territory.
NATIONAL = "US"
#: The age of a listing or record whose source gives no date and no year: older than any other.
UNKNOWN_AGE = date.min


def listing_age(source_date: date | None, source_vintage: int | None) -> date:
    """How old a listing's source is: its date, else 1 January of its year, else `UNKNOWN_AGE`."""
    if source_date is not None:
        return source_date
    return date(source_vintage, 1, 1) if source_vintage else UNKNOWN_AGE


def older_than(day: date) -> ColumnElement[bool]:
    """SQL: the listing's age (`listing_age`) is before `day`."""
    latest_year = day.year if day > date(day.year, 1, 1) else day.year - 1
    undated = and_(
        Center.source_date.is_(None), or_(Center.source_vintage.is_(None), Center.source_vintage <= latest_year)
    )
    return or_(Center.source_date < day, undated)


def parse_covers(value: str) -> frozenset[str]:
    """The states a `--covers` value names ("MA", "MA,RI" or "US" for all); ValueError says what is wrong."""
    codes = [part.strip().upper() for part in value.split(",") if part.strip()]
    if codes == [NATIONAL]:
        return frozenset(STATES)
    wrong = [code for code in codes if code not in STATES]
    if wrong or not codes:
        shown = ", ".join(map(repr, wrong)) if wrong else repr(value)
        raise ValueError(
            f"--covers takes state codes separated by commas (e.g. MA or MA,RI) or US for every state; "
            f"{shown} is not one"
        )
    return frozenset(codes)


def supersede_missing(
    session: Session,
    states: frozenset[str],
    source: str,
    age: date,
    imported: Callable[[int], bool],
    now: datetime,
) -> tuple[list[RowOutcome], list[RowOutcome]]:
    """Mark superseded the listings in `states` older than `age` that this import did not write
    (`imported(center_id)` is False); returns the listings superseded and those kept, with why."""
    columns = (Center.id, Center.external_id, Center.name, Center.last_verified_at)
    older = select(*columns).where(
        Center.state.in_(sorted(states)),
        Center.superseded_at.is_(None),
        older_than(age),
        or_(Center.superseded_by_date.is_(None), Center.superseded_by_date < age),
    )
    superseded: list[RowOutcome] = []
    kept: list[RowOutcome] = []
    note = superseded_note(source, age)
    for center_id, external_id, name, confirmed in session.execute(older.order_by(Center.id)):
        if imported(center_id):
            continue
        if confirmed is not None and is_verified(confirmed, now):
            why = f"confirmed by its center on {confirmed:%Y-%m-%d}, within {VERIFICATION_VALID_DAYS} days"
            kept.append(RowOutcome("kept", 0, external_id, center_id, name, why))
        else:
            superseded.append(RowOutcome("superseded", 0, external_id, center_id, name, note))
    ids = [outcome.center_id for outcome in superseded]
    for start in range(0, len(ids), 5000):
        session.execute(
            update(Center)
            .where(Center.id.in_(ids[start : start + 5000]))
            .values(superseded_at=now, superseded_by=source, superseded_by_date=age),
            execution_options={"synchronize_session": False},
        )
    return superseded, kept


def restore(session: Session, center: Center, actor: User) -> None:
    """An administrator's decision that a superseded listing is still current: it comes back to
    search and routing. `superseded_by_date` stays, so only a newer covering import supersedes it again."""
    if center.superseded_at is None:
        return
    note = superseded_note(center.superseded_by or "", center.superseded_by_date or UNKNOWN_AGE)
    center.superseded_at = None
    audit.record(session, actor, "center.restore", "center", center.id, changes={"superseded": (note, None)})
