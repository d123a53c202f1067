"""What `seeds/centers.csv` is made of: public sources, imported in this order into an empty
directory, then exported (`scripts/build-seed.sh`). Later sources match the listings of the
same places from earlier ones, and a state file supersedes what it no longer has."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

from sqlalchemy.orm import Session

from directory.sources import import_file
from directory.sources.loader import ImportReport


@dataclass(frozen=True)
class SeedSource:
    path: str  #: under the shared data folder (`../shared/data`)
    file_format: str
    source_date: date | None = None
    covers: frozenset[str] = frozenset()


SEED_SOURCES = (
    SeedSource("samhsa-nssats-2015/directory.csv", "nssats"),
    SeedSource("findtreatment-2025-ca/residential.csv", "findtreatment"),
    # The locator's download of 19 August 2025, complete for Massachusetts.
    SeedSource(
        "findtreatment-2025-ma/facility-detail.csv",
        "findtreatment-export",
        source_date=date(2025, 8, 19),
        covers=frozenset({"MA"}),
    ),
)


def build_seed(session: Session, data_dir: Path) -> list[tuple[SeedSource, ImportReport]]:
    """Import every seed source into the (empty) directory; stops at the first that is refused."""
    done = []
    for source in SEED_SOURCES:
        report = import_file(
            session, data_dir / source.path, source.file_format, source_date=source.source_date, covers=source.covers
        )
        done.append((source, report))
        if not report.written:
            break
    return done
