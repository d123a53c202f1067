"""The one place that names each source code for people, and the words for a listing a newer
source no longer has."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class SourceName:
    """How a listing's source is named to a person, with and without its year."""

    name: str
    dated: str  # with "{year}" where the source_vintage goes


SOURCES: dict[str, SourceName] = {
    "samhsa-nssats-2015": SourceName("SAMHSA's national directory", "SAMHSA's {year} national directory"),
    "findtreatment-gov-2025": SourceName("FindTreatment.gov", "FindTreatment.gov ({year})"),
    "findtreatment-gov": SourceName("FindTreatment.gov", "FindTreatment.gov ({year})"),
}


def source_display_name(source: str) -> str:
    """A source code in words ("findtreatment-gov" -> "FindTreatment.gov"), or the code itself."""
    known = SOURCES.get(source)
    return known.name if known else source


def long_day(day: date) -> str:
    """A day as "19 August 2025"."""
    return f"{day.day} {day:%B} {day.year}"


def superseded_note(source: str, day: date) -> str:
    """The short note of a superseded listing: "Not in FindTreatment.gov, 19 August 2025"."""
    return f"Not in {source_display_name(source)}, {long_day(day)}"


def superseded_statement(source: str, day: date) -> str:
    """What a superseded listing's profile tells a person, first thing."""
    return (
        f"This listing is not in {source_display_name(source)}'s {day:%B} {day.year} directory; "
        "the program may have closed or moved. Call before going."
    )
