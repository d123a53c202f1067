"""Write validated records into the database: create, update by external id, match to the
listing of the same place from an older source, or leave alone.

Strict by default: if any row of the input is invalid, nothing is written. With
`skip_invalid` the valid rows are written and the invalid ones reported. A listing the
center has edited itself is never overwritten unless `overwrite_center_edits` is set.

Rows stream through in batches, all in one transaction: whatever the file's length, memory
grows by only 16 bytes a row (the line each center came from, to name it when an external id
repeats). Which slugs and external ids are taken is asked of the database.

A row whose external id is not stored is matched to the listing of an older source at the same
place (directory.sources.matching): that listing is updated in place (its id, URL and its
center's own edits kept), takes the row's external id, and keeps its previous one in
`former_external_ids`; a later row with that previous id is left out. With `covers`, the older
listings of those states that no row matched or updated are superseded afterwards
(directory.sources.supersession), in the same transaction.

Each batch goes in as one statement per table. On SQLite the R*Tree's row triggers (migration
0001) write `center_locations` for each new center; SQLite saves their writes per statement in a
statement journal, kept in memory (`temp_store=MEMORY`, set on every connection:
`directory._connection_settings`).
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from itertools import islice
from typing import TextIO

import numpy as np
from slugify import slugify
from sqlalchemy import Dialect, Table, select, text
from sqlalchemy.orm import Session, lazyload

from directory.models import Center, CenterAttribute, FormerExternalId
from directory.models.base import utcnow
from directory.sources.matching import Site, find_candidates, match_score
from directory.sources.records import (
    MULTI_VALUED,
    SCALAR_FIELDS,
    CenterRecord,
    ImportIssue,
    ParsedRow,
    RowOutcome,
)
from directory.sources.supersession import UNKNOWN_AGE, listing_age, supersede_missing

BATCH_SIZE = 500


@dataclass
class ImportReport:
    """What an import did (or, for a dry run or a refused file, would have done)."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    kept_center_edits: int = 0
    #: Rows matched to the listing of the same place from an older source, updated in place.
    matched: int = 0
    issues: list[ImportIssue] = field(default_factory=list)
    invalid_rows: int = 0
    #: Rows merged into another row's listing (further rows of one site).
    merged_rows: int = 0
    #: Valid rows that are not listings of this directory, counted by why.
    left_out: dict[str, int] = field(default_factory=dict)
    written: bool = False
    #: Each row matched or left out, each listing superseded or kept, and each tie, with why.
    outcomes: list[RowOutcome] = field(default_factory=list)
    #: The states the file is complete for: older listings there it no longer has are superseded.
    covers: frozenset[str] = frozenset()
    #: Why nothing was superseded although the import covers some states, if so.
    not_superseded_because: str | None = None

    def count(self, outcome: str) -> int:
        """How many rows or listings had this outcome ("left out", "superseded", "kept", "tie")."""
        return sum(1 for o in self.outcomes if o.outcome == outcome)

    @property
    def valid_rows(self) -> int:
        return (
            self.created
            + self.updated
            + self.unchanged
            + self.kept_center_edits
            + self.matched
            + self.count("left out")
        )

    def counts(self) -> str:
        """The counts in words, for the command line and logs (no row's content)."""
        counts = (
            f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged, "
            f"{self.kept_center_edits} kept as edited by their center, {self.invalid_rows} invalid"
        )
        if self.merged_rows:
            counts += f", {self.merged_rows} merged into the listing of another row of the same site"
        for reason, count in self.left_out.items():
            counts += f", {count} left out as {reason}"
        if self.merged_rows or self.left_out:
            counts += f" ({self.rows_read} rows read)"
        return counts

    @property
    def rows_read(self) -> int:
        """Every data row of the input: each is in exactly one of the counts."""
        return self.valid_rows + self.merged_rows + sum(self.left_out.values()) + self.invalid_rows


def import_rows(
    session: Session,
    rows: Iterable[ParsedRow],
    path: str,
    *,
    skip_invalid: bool = False,
    dry_run: bool = False,
    overwrite_center_edits: bool = False,
    covers: frozenset[str] = frozenset(),
) -> ImportReport:
    """Validate and upsert rows in one transaction, then supersede what the file no longer has in
    the states it `covers`; commit only if the import may be written."""
    report = ImportReport(covers=covers)
    lines = _LinesByCenter()
    slugs = _Slugs(session)
    oldest: tuple[date, str] | None = None  # the age and source of the file's oldest row
    try:
        for batch in _batches(rows, BATCH_SIZE):
            records: dict[str, tuple[CenterRecord, int]] = {}
            for row in batch:
                report.merged_rows += row.merged
                if row.left_out is not None:
                    report.left_out[row.left_out] = report.left_out.get(row.left_out, 0) + 1
                elif row.record is None:
                    report.invalid_rows += 1
                    report.issues.extend(row.issues)
                elif row.record.external_id in records:
                    _repeated(report, path, row.line, row.record.external_id, records[row.record.external_id][1])
                else:
                    records[row.record.external_id] = (row.record, row.line)
                    age = listing_age(row.record.source_date, row.record.source_vintage)
                    if oldest is None or age < oldest[0]:
                        oldest = (age, row.record.source)
            _upsert(session, list(records.values()), report, path, lines, slugs, overwrite_center_edits)
            session.flush()
        if covers:
            _supersede(session, covers, oldest, lines, report)
        may_write = not dry_run and (skip_invalid or report.invalid_rows == 0)
        if may_write:
            session.commit()
            report.written = True
        else:
            session.rollback()
    except BaseException:
        session.rollback()
        raise
    return report


def _supersede(
    session: Session,
    covers: frozenset[str],
    oldest: tuple[date, str] | None,
    lines: _LinesByCenter,
    report: ImportReport,
) -> None:
    """Supersede the older listings in the covered states that no row of this import wrote."""
    if oldest is None:
        report.not_superseded_because = "the file has no valid rows"
    elif oldest[0] == UNKNOWN_AGE:
        report.not_superseded_because = "a row has neither source_date nor source_vintage, so the file's age is unknown"
    else:
        age, source = oldest
        superseded, kept = supersede_missing(session, covers, source, age, lambda i: lines.get(i) is not None, utcnow())
        report.outcomes += superseded + kept


def _repeated(report: ImportReport, path: str, line: int, external_id: str, first_line: int) -> None:
    report.invalid_rows += 1
    report.issues.append(
        ImportIssue(
            path,
            line,
            "external_id",
            external_id,
            f"repeats the external id of line {first_line}; each center needs its own",
        )
    )


def _upsert(
    session: Session,
    records: list[tuple[CenterRecord, int]],
    report: ImportReport,
    path: str,
    lines: _LinesByCenter,
    slugs: _Slugs,
    overwrite_center_edits: bool,
) -> None:
    ids = [r.external_id for r, _ in records]
    stored = select(Center).options(lazyload(Center.attributes))  # their codes: `_CodeChanges.load`
    existing = {c.external_id: c for c in session.scalars(stored.where(Center.external_id.in_(ids)))}
    unknown = [(r, line) for r, line in records if r.external_id not in existing]
    former = dict(
        session.execute(
            select(FormerExternalId.external_id, FormerExternalId.center_id).where(
                FormerExternalId.external_id.in_([r.external_id for r, _ in unknown])
            )
        ).all()
    )
    for record, line in unknown:
        if record.external_id in former:
            why = f"listing {former[record.external_id]} had this external id until a newer source matched it"
            report.outcomes.append(RowOutcome("left out", line, record.external_id, former[record.external_id],
                                              record.name, why))  # fmt: skip
    unknown = [(r, line) for r, line in unknown if r.external_id not in former]
    code_changes = _CodeChanges()
    code_changes.load(session, [c.id for c in existing.values()])
    for record, line in records:
        center = existing.get(record.external_id)
        if center is None:
            continue
        if (first_line := lines.get(center.id)) is not None:
            _repeated(report, path, line, record.external_id, first_line)  # an earlier batch wrote it
            continue
        lines.add(center.id, line)
        reappeared = center.superseded_at is not None and _age(record) > listing_age(
            center.source_date, center.source_vintage
        )
        if reappeared:
            center.superseded_at = None
        if center.center_edited_at is not None and not overwrite_center_edits:
            report.kept_center_edits += 1
        elif apply_record(center, record, code_changes) or reappeared:
            report.updated += 1
        else:
            report.unchanged += 1
    # After the rows updated by their own id are marked taken, so no other row matches them.
    matches = _match(session, unknown, lines, report)
    by_id = {}
    if matches:
        by_id = {c.id: c for c in session.scalars(stored.where(Center.id.in_(list(matches.values()))))}
        code_changes.load(session, list(by_id))
    new_records = []
    former_ids = []
    for k, (record, line) in enumerate(unknown):
        if k not in matches:
            new_records.append((record, line))
            continue
        center = by_id[matches[k]]
        lines.add(center.id, line)
        former_ids.append((center.external_id, center.id))
        why = f"same place as {center.external_id} ({center.name}), from an older source"
        center.external_id = record.external_id
        center.superseded_at = None
        if center.center_edited_at is not None and not overwrite_center_edits:
            center.source, center.source_vintage, center.source_date = (
                record.source, record.source_vintage, record.source_date
            )  # fmt: skip
            why += "; the listing's own edits by its center kept"
        else:
            apply_record(center, record, code_changes)
        report.matched += 1
        report.outcomes.append(RowOutcome("matched", line, record.external_id, center.id, record.name, why))
    code_changes.write(session)
    if former_ids:
        session.flush()  # the matched listings' new external ids first
        _insert_rows(session, FormerExternalId.__table__, ("external_id", "center_id"), former_ids)
    for center_id, (_, line) in zip(_insert_new(session, [r for r, _ in new_records], slugs), new_records, strict=True):
        lines.add(center_id, line)
    report.created += len(new_records)


def _age(record: CenterRecord) -> date:
    return listing_age(record.source_date, record.source_vintage)


def _source_of(external_id: str) -> str:
    return external_id.partition(":")[0]


def _match(
    session: Session, records: list[tuple[CenterRecord, int]], lines: _LinesByCenter, report: ImportReport
) -> dict[int, int]:
    """Which of these records (by position) are the listing (id) of the same place from an older
    source, one listing for at most one record: the best pairs first (exact, then most similar
    name, then nearest); a pair as good as the one that won is reported as a tie."""
    sites = [Site(r.name, r.alt_name, r.street1, r.zip, r.latitude, r.longitude) for r, _ in records]
    pairs = []
    for k, ((record, _), candidates) in enumerate(zip(records, find_candidates(session, sites), strict=True)):
        age = _age(record)
        for candidate in candidates:
            if (
                age <= listing_age(candidate.source_date, candidate.source_vintage)
                or _source_of(candidate.external_id) == _source_of(record.external_id)
                or lines.get(candidate.id) is not None
            ):
                continue
            if (scored := match_score(sites[k], candidate.site)) is not None:
                score, meters = scored
                pairs.append((-score, round(meters, 1), k, candidate))
    pairs.sort(key=lambda pair: pair[:3])
    chosen: dict[int, int] = {}
    winner: dict[int, tuple[float, float, int]] = {}  # listing id -> the pair that took it
    for score, meters, k, candidate in pairs:
        if k in chosen:
            continue
        if candidate.id in winner:
            if winner[candidate.id][:2] == (score, meters):
                record, line = records[k]
                first_line = records[winner[candidate.id][2]][1]
                why = f"as close a match to {candidate.external_id} as line {first_line}, which took it"
                report.outcomes.append(RowOutcome("tie", line, record.external_id, candidate.id, record.name, why))
            continue
        chosen[k] = candidate.id
        winner[candidate.id] = (score, meters, k)
    return chosen


def _insert_new(session: Session, records: list[CenterRecord], slugs: _Slugs) -> list[int]:
    """Insert new centers and their attributes with two INSERTs, bypassing the ORM; their ids.

    The same rows `apply_record` on a new `Center` would give, many times faster than the
    unit of work (a full import of the seed: 25 s down to 3 s). Existing centers still go
    through `apply_record`, which compares field by field.
    """
    if not records:
        return []
    centers, attributes = Center.__table__, CenterAttribute.__table__
    now = utcnow()
    _insert_rows(
        session,
        centers,
        ("external_id", "slug", *SCALAR_FIELDS, "created_at", "updated_at"),
        [
            (r.external_id, slug, *(getattr(r, name) for name in SCALAR_FIELDS), now, now)
            for r, slug in zip(records, slugs.assign(records), strict=True)
        ],
    )
    # The ids by external id: on SQLite an INSERT ... RETURNING in parameter order would run
    # once per row.
    written = select(centers.c.external_id, centers.c.id).where(
        centers.c.external_id.in_([r.external_id for r in records])
    )
    id_of = {external_id: center_id for external_id, center_id in session.execute(written)}
    ids = [id_of[r.external_id] for r in records]
    codes = [
        (center_id, kind, code)
        for center_id, record in zip(ids, records, strict=True)
        for kind in MULTI_VALUED
        for code in sorted(set(getattr(record, kind)))
    ]
    if codes:
        _insert_rows(session, attributes, ("center_id", "kind", "code"), codes)
    return ids


def _insert_rows(session: Session, table: Table, names: tuple[str, ...], rows: list[tuple]) -> None:
    """INSERT rows (tuples of the named columns' values) into `table`, straight to the driver.

    PostgreSQL: one `INSERT ... SELECT FROM unnest(arrays)`, an array per column, one statement
    for the whole batch where an executemany would be one per row. SQLite: an executemany of
    tuples converted by the columns' own types.
    """
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        arrays, parameters = _unnest(table, names, rows, dialect)
        session.execute(text(f"INSERT INTO {table.name} ({', '.join(names)}) SELECT * FROM {arrays}"), parameters)
        return
    converters = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names]
    if any(converters):
        rows = [tuple(v if f is None else f(v) for f, v in zip(converters, row, strict=True)) for row in rows]
    statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' for _ in names)})"
    session.connection().exec_driver_sql(statement, rows)


def _delete_rows(session: Session, table: Table, names: tuple[str, ...], rows: list[tuple]) -> None:
    """DELETE the rows whose named columns (a key of `table`) hold these values: one statement on PostgreSQL."""
    dialect = session.get_bind().dialect
    if dialect.name == "postgresql":
        arrays, parameters = _unnest(table, names, rows, dialect)
        matches = " AND ".join(f"t.{name} = d.{name}" for name in names)
        statement = f"DELETE FROM {table.name} t USING {arrays} AS d({', '.join(names)}) WHERE {matches}"
        session.execute(text(statement), parameters)
        return
    matches = " AND ".join(f"{name} = ?" for name in names)
    session.connection().exec_driver_sql(f"DELETE FROM {table.name} WHERE {matches}", rows)


def _unnest(table: Table, names: tuple[str, ...], rows: list[tuple], dialect: Dialect) -> tuple[str, dict]:
    """PostgreSQL: `unnest(...)` of one array parameter per named column, the rows as a table; and its parameters."""
    arrays = ", ".join(f"CAST(:{name} AS {table.c[name].type.compile(dialect)}[])" for name in names)
    columns = [list(column) for column in zip(*rows, strict=True)]
    return f"unnest({arrays})", dict(zip(names, columns, strict=True))


def apply_record(center: Center, record: CenterRecord, code_changes: _CodeChanges) -> bool:
    """Copy a record onto a center (but for the fields its source does not give), its codes through
    `code_changes`; returns whether anything changed."""
    changed = False
    for name in SCALAR_FIELDS:
        if name in record.not_in_source:
            continue
        value = getattr(record, name)
        if getattr(center, name) != value:
            setattr(center, name, value)
            changed = True
    for kind in MULTI_VALUED:
        changed |= code_changes.replace(center, kind, getattr(record, kind))
    return changed


class _CodeChanges:
    """The attribute rows a batch of updated centers loses and gains, written in two statements.

    Through the ORM each row would be a statement of its own.
    """

    def __init__(self) -> None:
        self.removed: list[tuple[int, str, str]] = []
        self.added: list[tuple[int, str, str]] = []
        self.centers: list[Center] = []
        self.stored: dict[tuple[int, str], set[str]] = defaultdict(set)

    def load(self, session: Session, center_ids: list[int]) -> None:
        """Read the stored codes of these centers: one statement, where loading their ORM rows
        would make an object per code (a third of a 10,000-row re-import's time)."""
        attributes = CenterAttribute.__table__.c
        for start in range(0, len(center_ids), 5000):
            chunk = center_ids[start : start + 5000]
            query = select(attributes.center_id, attributes.kind, attributes.code).where(
                attributes.center_id.in_(chunk)
            )
            for center_id, kind, code in session.execute(query):
                self.stored[center_id, kind].add(code)

    def replace(self, center: Center, kind: str, codes: list[str]) -> bool:
        """Give `center` exactly these codes of `kind` when written (its stored codes `load`ed
        first); returns whether that changes them."""
        have, wanted = self.stored.get((center.id, kind), set()), set(codes)
        if have == wanted:
            return False
        self.removed += [(center.id, kind, code) for code in sorted(have - wanted)]
        self.added += [(center.id, kind, code) for code in sorted(wanted - have)]
        self.centers.append(center)
        return True

    def write(self, session: Session) -> None:
        attributes = CenterAttribute.__table__
        if self.removed:
            _delete_rows(session, attributes, ("center_id", "kind", "code"), self.removed)
        if self.added:
            _insert_rows(session, attributes, ("center_id", "kind", "code"), self.added)
        for center in self.centers:
            session.expire(center, ["attributes"])


def center_to_record(center: Center) -> CenterRecord:
    """A stored center as a record, e.g. for export."""
    record = CenterRecord(
        external_id=center.external_id,
        **{name: getattr(center, name) for name in SCALAR_FIELDS},
    )
    for kind in MULTI_VALUED:
        setattr(record, kind, center.codes(kind))
    return record


def write_outcomes_csv(stream: TextIO, outcomes: Iterable[RowOutcome]) -> None:
    """An import's `outcomes` as CSV: outcome, line, external_id, center_id, name, why."""
    writer = csv.writer(stream)
    writer.writerow(("outcome", "line", "external_id", "center_id", "name", "why"))
    writer.writerows((o.outcome, o.line or "", o.external_id, o.center_id or "", o.name, o.why) for o in outcomes)


def iter_centers(session: Session, batch_size: int = 1000, *, superseded: bool = False) -> Iterator[Center]:
    """Every listing in search (with `superseded`, superseded ones too), in id order, loaded a batch at a time."""
    last_id = 0
    wanted = [] if superseded else [Center.superseded_at.is_(None)]
    while True:
        batch = session.scalars(
            select(Center).where(Center.id > last_id, *wanted).order_by(Center.id).limit(batch_size)
        ).all()
        if not batch:
            return
        yield from batch
        last_id = batch[-1].id
        session.expunge_all()


class _LinesByCenter:
    """The line each center of this import came from, by center id, to report a repeated external id.

    Sorted NumPy chunks of 16 bytes a row, each made once and never copied, rather than a dict
    of external ids (about 150 bytes a row): a file of millions of rows imports in little memory.
    """

    CHUNK = 65_536

    def __init__(self) -> None:
        self.recent: dict[int, int] = {}
        self.chunks: list[tuple[np.ndarray, np.ndarray]] = []  # (sorted center ids, their lines)

    def add(self, center_id: int, line: int) -> None:
        self.recent[center_id] = line
        if len(self.recent) >= self.CHUNK:
            ids = np.fromiter(self.recent, dtype=np.int64, count=len(self.recent))
            lines = np.fromiter(self.recent.values(), dtype=np.int64, count=len(self.recent))
            order = np.argsort(ids)
            self.chunks.append((ids[order], lines[order]))
            self.recent = {}

    def get(self, center_id: int) -> int | None:
        if center_id in self.recent:
            return self.recent[center_id]
        for ids, lines in self.chunks:
            if ids[0] <= center_id <= ids[-1]:
                k = int(np.searchsorted(ids, center_id))
                if ids[k] == center_id:
                    return int(lines[k])
        return None


class _Slugs:
    """Hands out unique URL slugs ("name-city-st", then "-2", "-3"...), asking the database which are taken.

    Remembers, for the names that collided, the next number to try (so a name repeated many
    times is not probed from "-2" each time); everything else is looked up per batch.
    """

    PROBE = 4  #: numbers tried per slug still needed, per query
    REMEMBERED = 100_000  #: collided names remembered at most (forgetting only costs queries)

    def __init__(self, session: Session) -> None:
        self.session = session
        self.next_number: dict[str, int] = {}

    def assign(self, records: list[CenterRecord]) -> list[str]:
        """One new slug per record, unique among the stored ones and each other."""
        bases = [_base_slug(r) for r in records]
        used = self._taken(set(bases))
        slugs = list(bases)
        waiting: dict[str, list[int]] = defaultdict(list)  # base -> positions still without a slug
        for k, base in enumerate(bases):
            if base in used:
                waiting[base].append(k)
            used.add(base)
        while waiting:
            numbers = {
                base: range(self._start(base), self._start(base) + self.PROBE * len(ks)) for base, ks in waiting.items()
            }
            taken = used | self._taken({f"{base}-{n}" for base, ns in numbers.items() for n in ns})
            for base, ns in numbers.items():
                positions = waiting.pop(base)
                free = [n for n in ns if f"{base}-{n}" not in taken][: len(positions)]
                for k, n in zip(positions, free, strict=False):
                    slugs[k] = f"{base}-{n}"
                    used.add(slugs[k])
                if len(free) < len(positions):
                    waiting[base] = positions[len(free) :]
                self._remember(base, free[-1] + 1 if len(free) == len(positions) else ns[-1] + 1)
        return slugs

    def _start(self, base: str) -> int:
        return self.next_number.get(base, 2)

    def _remember(self, base: str, next_number: int) -> None:
        """Every number below `next_number` is taken for `base` (stored, or handed out in this import)."""
        if base not in self.next_number and len(self.next_number) >= self.REMEMBERED:
            self.next_number.clear()
        self.next_number[base] = next_number

    def _taken(self, slugs: set[str]) -> set[str]:
        found: set[str] = set()
        candidates = sorted(slugs)
        for start in range(0, len(candidates), 5000):
            chunk = candidates[start : start + 5000]
            found.update(self.session.scalars(select(Center.slug).where(Center.slug.in_(chunk))))
        return found


def _base_slug(record: CenterRecord) -> str:
    return slugify(f"{record.name} {record.city} {record.state}", max_length=120, word_boundary=True) or "center"


def _batches(rows: Iterable[ParsedRow], size: int) -> Iterator[list[ParsedRow]]:
    iterator = iter(rows)
    while batch := list(islice(iterator, size)):
        yield batch
