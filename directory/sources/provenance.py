"""Where a listing comes from and how old it is, in plain words; how current the directory is.

The one place that names each source for people: profiles, result cards, the home page, import
reports. The words are English `Message`s, which pages show in the person's language.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from directory.models import Center
from directory.translatable import N_, LocalDate, Message

#: How each source is named, by the `source` code its importer writes.
SOURCE_NAMES: dict[str, str] = {
    "samhsa-nssats-2015": N_("SAMHSA national directory"),
    "findtreatment-gov": "FindTreatment.gov",
    "findtreatment-gov-2025": "FindTreatment.gov",
}
#: Sources that are web sites a person can visit ("Listed on FindTreatment.gov").
WEB_SOURCES = frozenset({"findtreatment-gov", "findtreatment-gov-2025"})
#: A listing its source gave longer ago than this says "call to confirm" (SAMHSA surveys yearly).
CURRENT_FOR = timedelta(days=730)


def source_name(source: str) -> str:
    """A source's name for people ("FindTreatment.gov"); an unknown code as it is."""
    return Message(SOURCE_NAMES[source]) if source in SOURCE_NAMES else source


def listed_when(source_vintage: int | None, source_date: date | None) -> str | LocalDate | None:
    """When the source listed it: "August 2025" when the day is known, else "2015", else None."""
    if source_date is not None:
        return LocalDate(source_date, "month")
    return str(source_vintage) if source_vintage else None


def listed_on(source: str, source_vintage: int | None, source_date: date | None) -> date | None:
    """The day the source listed it, or 1 January of its year; None if neither is known."""
    if source_date is not None:
        return source_date
    return date(source_vintage, 1, 1) if source_vintage else None


def source_label(source: str, source_vintage: int | None, source_date: date | None) -> str:
    """ "Listed on FindTreatment.gov, August 2025" or "SAMHSA national directory, 2015"."""
    name = source_name(source)
    if source in WEB_SOURCES:
        named: str = Message(N_("Listed on %(source)s"), source=name)
    else:
        named = name if source in SOURCE_NAMES else Message(N_("Listed in %(source)s"), source=name)
    when = listed_when(source_vintage, source_date)
    return Message(N_("%(source)s, %(when)s"), source=named, when=when) if when else named


def is_current(source_vintage: int | None, source_date: date | None, now: datetime) -> bool:
    """Whether the source listed it recently enough to read without "call to confirm"."""
    listed = listed_on("", source_vintage, source_date)
    return listed is not None and now.date() - listed <= CURRENT_FOR


@dataclass(frozen=True)
class SourceCount:
    label: str  #: e.g. "Listed on FindTreatment.gov, August 2025"
    listings: int
    current: bool  #: listed recently enough not to need "call to confirm"


@dataclass(frozen=True)
class DirectoryCurrency:
    """How current the directory is: its listings by source and month, and how many centers confirmed theirs."""

    listings: int
    by_source: list[SourceCount]  #: newest first
    confirmed: int  #: confirmed by their center within the confirmation window


def directory_currency(session: Session, now: datetime, confirmed_since: datetime) -> DirectoryCurrency:
    """Count the listings in search (not superseded) by source and when it listed them (month or
    year), newest first."""
    rows = session.execute(
        select(Center.source, Center.source_vintage, Center.source_date, func.count())
        .where(Center.superseded_at.is_(None))
        .group_by(Center.source, Center.source_vintage, Center.source_date)
    ).all()
    counts: Counter[tuple[str, date | None]] = Counter()
    listed: dict[tuple[str, date | None], tuple[int | None, date | None]] = {}
    for source, vintage, day, count in rows:
        month = day.replace(day=1) if day is not None else None
        key = (source_label(source, vintage, month), listed_on(source, vintage, month))
        counts[key] += count
        listed[key] = (vintage, month)
    by_source = [
        SourceCount(label, counts[label, day], is_current(*listed[label, day], now))
        for label, day in sorted(counts, key=lambda key: (key[1] or date.min, key[0]), reverse=True)
    ]
    confirmed = (
        session.scalar(
            select(func.count()).where(Center.last_verified_at > confirmed_since, Center.superseded_at.is_(None))
        )
        or 0
    )
    return DirectoryCurrency(sum(counts.values()), by_source, confirmed)


def superseded_note(source: str, day: date) -> str:
    """The short note of a superseded listing: "Not in FindTreatment.gov, 19 August 2025"."""
    return Message(N_("Not in %(source)s, %(day)s"), source=source_name(source), day=LocalDate(day, "day"))


def superseded_statement(source: str, day: date) -> str:
    """What a superseded listing's profile tells a person, first thing."""
    return Message(
        N_(
            "This listing is not in %(source)s's %(month)s directory; the program may have closed or moved. "
            "Call before going."
        ),
        source=source_name(source),
        month=LocalDate(day, "month"),
    )
