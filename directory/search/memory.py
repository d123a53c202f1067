"""The search rows in the process's memory: a radius search that reads no index of the database's.

A process that turns it on (`enable`; the app does, see SEARCH_INDEX_IN_MEMORY) keeps a copy
of `center_search_rows` (every center's exact point and filter mask, migration 0007), with
each center's languages and the time its listing was last confirmed, as NumPy arrays sorted
the way SQLite's band index is: by latitude band, then longitude. A search finds the rows of
its box with two binary searches per band, tests its filters on the arrays, and then, as the
SQL does, measures exactly only the rows near the circle's edge (for the count) and near its
centre (for the page): `rank`, whose loops are compiled (kernels.py). The page's listings
are read from the database the first time a page shows them, and the copy keeps them too
(`page_listings`), up to a bound.

The copy is of one directory revision (revision.py: triggers bump it in the transaction of any
change to a center or its attributes). Every search reads the revision its session sees first,
and a copy of another revision is never used: that search is answered by the database
(engine.py), and if the copy is behind the committed revision a new one is read, by default in
a background thread, so that no request waits for it. A session whose own transaction sees
another directory than the committed one (its own uncommitted changes, say) is answered by the
database too (`index_for`). Either way the answer is the same:
the same points, the same bounds, the same exact distances, the same order (a test holds them
to it).

At 1,000,000 centers the copy holds 64 MB and takes about 4 s of one core to read; for the
real directory's 12,000, under 1 MB and about 30 ms.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session

from directory.models import Center
from directory.search import kernels
from directory.search.engine import (
    _FIRST_BAND_OFFSET,
    BANDS_PER_DEGREE,
    PATHWAY_CODES,
    RTREE_SLACK_MILES,
    FilterShape,
    Ranking,
    SearchQuery,
    _band,
    _box_shape,
)
from directory.search.geodesy import bounding_box, degree_lengths, geodesic_miles
from directory.search.listing import CenterListing, load_listings_at_revision
from directory.search.masks import ACCEPTING_REFERRALS, MASKED_KINDS
from directory.search.masks import bits as mask_bits
from directory.search.revision import read_committed_revision, read_directory_revision, read_revision
from directory.search.statements import fetch_all

log = logging.getLogger(__name__)

#: The rows' sort key is band * KEY_STRIDE + longitude: the bands' keys never overlap (a
#: longitude is within +-180), and at up to 3,600 bands the key's rounding is under 1e-9
#: degrees, far inside the bounding box's padding.
KEY_STRIDE = 1024.0

#: The unmasked kind (migration 0007 gives its 95 codes no bits); the copy gives each code
#: found in the data a bit of its own.
LANGUAGES = "languages"
#: `confirmed_at` of a listing never confirmed (NaT's integer: before any time).
_NOT_CONFIRMED = np.datetime64("NaT", "us").astype(np.int64)

#: Listings a copy keeps by default (SEARCH_LISTINGS_IN_MEMORY): about 3 KB each with the API's
#: JSON of them, so 30 MB a process; the real directory has about 12,000 centers.
LISTINGS_HELD = 10_000


class HeldListings:
    """Listings of one directory revision that result pages have shown, at most `limit` of them
    (then the first kept go first): kept with the copy of that revision, and gone with it."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._listings: dict[int, CenterListing] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._listings)

    def find(self, ids: Sequence[int]) -> tuple[dict[int, CenterListing], list[int]]:
        """The listings held of these centers, and the ids of those not held."""
        found, missing = {}, []
        for center_id in ids:
            listing = self._listings.get(center_id)
            if listing is None:
                missing.append(center_id)
            else:
                found[center_id] = listing
        return found, missing

    def keep(self, listings: Mapping[int, CenterListing]) -> None:
        if not self.limit:
            return
        with self._lock:
            self._listings.update(listings)
            while len(self._listings) > self.limit:
                del self._listings[next(iter(self._listings))]


@dataclass(frozen=True, eq=False)
class SearchIndex:
    """The search rows of one directory revision, sorted by `keys` (band, then longitude)."""

    revision: int
    keys: np.ndarray
    ids: np.ndarray
    latitudes: np.ndarray
    longitudes: np.ndarray
    masks: np.ndarray
    #: When the listing was last confirmed by its center, in microseconds since 1970 (never:
    #: NaT's integer, the smallest there is).
    confirmed_at: np.ndarray
    #: One bit per language code (`language_bits`), in words of 64 bits: shape (rows, words).
    languages: np.ndarray
    language_bits: Mapping[str, int]
    #: The listings of this revision that pages have shown (`page_listings`).
    listings: HeldListings

    def __len__(self) -> int:
        return len(self.ids)


#: Reads of the copy before one is kept whose revision moved while it was read.
READ_ATTEMPTS = 3


def read_index(connection: Connection, listings_held: int = LISTINGS_HELD) -> SearchIndex:
    """A copy of the search rows as `connection` sees them, labelled with the revision read
    first. Its three statements may each see a later commit (SQLite and PostgreSQL's read
    committed give each statement its own snapshot), so the revision is read again after them:
    if it moved, the copy is read again, up to READ_ATTEMPTS times, and the last one is kept
    anyway: its rows are at least as new as its label, and the next search, at the newer
    revision, reads another. It keeps up to `listings_held` listings (`page_listings`)."""
    for _ in range(READ_ATTEMPTS):
        revision = read_revision(connection.connection.dbapi_connection)
        index = _read_rows(connection, revision, listings_held)
        if read_revision(connection.connection.dbapi_connection) == revision:
            break
    return index


#: The copy's two large reads, sent straight to the driver: SQLAlchemy's rows would cost more
#: than the database's own work (a million rows: about 2 s of 7).
_SEARCH_ROWS_SQL = "SELECT center_id, latitude, longitude, mask FROM center_search_rows"
_LANGUAGES_SQL = f"SELECT center_id, code FROM center_attributes WHERE kind = '{LANGUAGES}'"
_ROW = np.dtype([("id", np.int64), ("latitude", np.float64), ("longitude", np.float64), ("mask", np.int64)])


def _read_rows(connection: Connection, revision: int, listings_held: int) -> SearchIndex:
    found = fetch_all(connection.connection.dbapi_connection, _SEARCH_ROWS_SQL)
    table = np.fromiter(found, dtype=_ROW, count=len(found))
    del found
    ids, latitudes, longitudes, masks = (table[name].copy() for name in _ROW.names)
    bands = (latitudes * BANDS_PER_DEGREE + _FIRST_BAND_OFFSET).astype(np.int64).astype(np.float64)  # as `_band`
    keys = bands * KEY_STRIDE + longitudes
    order = np.argsort(keys, kind="stable")
    ids, latitudes, longitudes, masks, keys = ids[order], latitudes[order], longitudes[order], masks[order], keys[order]
    by_id = np.argsort(ids)
    ids_in_order = ids[by_id]

    def positions(center_ids: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
        """The rows of these centers, and which of them have a row."""
        wanted = np.array(center_ids, dtype=np.int64)
        at = np.minimum(np.searchsorted(ids_in_order, wanted), max(len(ids) - 1, 0))
        known = ids_in_order[at] == wanted if len(ids) else np.zeros(len(wanted), dtype=bool)
        return by_id[at][known], known

    confirmed_at = np.full(len(ids), _NOT_CONFIRMED, dtype=np.int64)
    confirmed = connection.execute(
        select(Center.id, Center.last_verified_at).where(Center.last_verified_at.is_not(None))
    ).all()
    if confirmed:
        at, known = positions([row[0] for row in confirmed])
        confirmed_at[at] = np.array([row[1] for row in confirmed], dtype="datetime64[us]").astype(np.int64)[known]

    spoken = fetch_all(connection.connection.dbapi_connection, _LANGUAGES_SQL)
    language_bits = {code: bit for bit, code in enumerate(sorted({code for _, code in spoken}))}
    languages = np.zeros((len(ids), max(1, -(-len(language_bits) // 64))), dtype=np.uint64)
    if spoken:
        at, known = positions([row[0] for row in spoken])
        bits = np.array([language_bits[code] for _, code in spoken], dtype=np.int64)[known]
        np.bitwise_or.at(languages, (at, bits // 64), np.left_shift(np.uint64(1), (bits % 64).astype(np.uint64)))
    return SearchIndex(
        revision,
        keys,
        ids,
        latitudes,
        longitudes,
        masks,
        confirmed_at,
        languages,
        language_bits,
        HeldListings(listings_held),
    )


def rank(
    index: SearchIndex,
    query: SearchQuery,
    shape: FilterShape,
    values: dict[str, Any],
    confirmed: bool | None,
    first: int,
    last: int,
    names_of: Callable[[list[int]], Sequence[str]],
) -> Ranking:
    """`engine._count_and_rank` on the copy: how many rows passing the filters (and in the group
    `confirmed`, unless None) are within the radius, and the ids and distances of those ranked
    `first` to `last` (0-based, last excluded) in (distance, name, id) order; `names_of(ids)`
    gives the names of centers at equal distances.

    The rows of the box are those between each band's west and east keys (two binary searches
    per band and longitude range). The bounds are `geodesy.DegreeLengths`' (as the SQL's): a row
    whose upper bound is within the radius counts without being measured, one whose lower bound
    is beyond it is left out, and the rest near the edge are measured. The page's matches are
    within the distance of the `last`-th smallest upper bound, when that is within the radius:
    only rows whose lower bound is within it are measured for the page, together with the
    edge's, in one call. The loops are compiled (kernels.py)."""
    filters = _row_filters(index, shape, values, confirmed)
    if filters is None:
        return 0, [], []
    lat, lon, radius = float(query.origin.latitude), float(query.origin.longitude), float(query.radius_miles)
    box = bounding_box(lat, lon, radius)
    lengths = degree_lengths(box)
    ranges = box.longitude_ranges
    compiled = kernels.compiled()
    certain, ids, edge, latitudes, longitudes = compiled.candidates(
        index.keys,
        index.ids,
        index.latitudes,
        index.longitudes,
        index.masks,
        index.confirmed_at,
        index.languages,
        _band(box.south),
        _band(box.north),
        KEY_STRIDE,
        np.array([west for west, _ in ranges]),
        np.array([east for _, east in ranges]),
        box.south,
        box.north,
        *filters,
        lat,
        lon,
        _box_shape(box)[1],  # across the antimeridian or around a pole: the shorter way round
        np.array([lengths.meridian_min**2, lengths.parallel_min**2, lengths.meridian_max**2, lengths.parallel_max**2]),
        (radius - RTREE_SLACK_MILES) ** 2 if radius > RTREE_SLACK_MILES else -1.0,
        (radius + RTREE_SLACK_MILES) ** 2,
        RTREE_SLACK_MILES,
        last,
    )
    if not len(ids):  # nothing near the edge, nor on the page
        return certain, [], []
    distances = geodesic_miles(lat, lon, latitudes, longitudes)
    total, ids, distances, ties = compiled.ranked(ids, edge, distances, radius, certain, first, last)
    if len(ties):
        _break_ties(ids, ties, names_of)
    return total, ids[first:last].tolist(), distances[first:last].tolist()


#: The bits a row's mask needs for the detox-then-naltrexone pathway: some of each.
_PATHWAY_BITS = [mask_bits(kind, codes) for kind, codes in PATHWAY_CODES.items()]
_NO_LANGUAGES = np.zeros(0, dtype=np.uint64)


def _row_filters(
    index: SearchIndex, shape: FilterShape, values: dict[str, Any], confirmed: bool | None
) -> tuple[np.ndarray, int, np.ndarray, int, int] | None:
    """`kernels.candidates`' filter arguments (required, refused, wanted_languages, confirmation,
    confirmed_after), exactly as `engine.bound_filter_conditions` and `engine._group_sql` decide
    in SQL; None when no row can pass (verified only, in the group of those not confirmed)."""
    kinds, pathway, accepting, verified_only = shape
    if verified_only and confirmed is False:
        return None
    required = list(_PATHWAY_BITS) if pathway else []
    languages = _NO_LANGUAGES
    for kind in kinds:
        if kind in MASKED_KINDS:
            required.append(values[f"bits_{kind}"])
        else:
            assert kind == LANGUAGES, kind
            languages = _language_words(index, values[f"codes_{kind}"])
    if accepting:
        required.append(ACCEPTING_REFERRALS)
    refused = ACCEPTING_REFERRALS if accepting is False else 0
    if not (verified_only or confirmed is not None):
        return np.array(required, dtype=np.int64), refused, languages, kernels.ANY, 0
    after = int(np.datetime64(values["verified_after"], "us").astype(np.int64))
    confirmation = kernels.CONFIRMED if verified_only or confirmed else kernels.NOT_CONFIRMED
    return np.array(required, dtype=np.int64), refused, languages, confirmation, after


def _language_words(index: SearchIndex, codes: Sequence[str]) -> np.ndarray:
    """The bits of these language codes, in the copy's words of 64 (none: nothing matches)."""
    wanted = np.zeros(index.languages.shape[1], dtype=np.uint64)
    for code in codes:
        if (bit := index.language_bits.get(code)) is not None:
            wanted[bit // 64] |= np.uint64(1) << np.uint64(bit % 64)
    return wanted


def _break_ties(ids: np.ndarray, ties: np.ndarray, names_of: Callable[[list[int]], Sequence[str]]) -> None:
    """Put each run `ties` (start, end) of `ids`, at equal distances, in (name, id) order."""
    runs = ties.tolist()
    tied = [center_id for start, end in runs for center_id in ids[start:end].tolist()]
    names = dict(zip(tied, names_of(tied), strict=True))
    for start, end in runs:
        ids[start:end] = sorted(ids[start:end].tolist(), key=lambda center_id: (names[center_id], center_id))


def page_listings(index: SearchIndex, session: Session, ids: Sequence[int]) -> dict[int, CenterListing]:
    """The listings of these centers (a page's), by id: those the copy holds, and the others read
    from the database in one statement, which the copy then holds too if the statement read them
    at the copy's revision (one statement sees one snapshot, the revision with the rows), so
    what the copy holds is always of its own revision."""
    found, missing = index.listings.find(ids)
    if missing:
        revision, loaded = load_listings_at_revision(session, missing)
        found.update(loaded)
        if revision == index.revision:
            index.listings.keep(loaded)
    return found


@dataclass(frozen=True)
class Observer:
    """Told what the copy does, for the process's metrics (directory/ops/metrics.py)."""

    #: Each search while copies are on: True if the copy answered it, False if the database did.
    answered: Callable[[bool], None]
    #: Each read of a copy: its seconds, and whether it was kept (False: it failed).
    read: Callable[[float, bool], None]


_UNOBSERVED = Observer(answered=lambda _from_copy: None, read=lambda _seconds, _ok: None)


class _Copy:
    """What one engine's process keeps: the current copy, and the reading of a new one."""

    def __init__(self, background: bool, observer: Observer, listings_held: int) -> None:
        self.background = background
        self.observer = observer
        self.listings_held = listings_held
        self.index: SearchIndex | None = None
        self.lock = threading.Lock()
        self.reading: threading.Thread | None = None
        self.failed_at: int | None = None  # the revision whose reading failed (not retried in a loop)


_copies: weakref.WeakKeyDictionary[Engine, _Copy] = weakref.WeakKeyDictionary()


def enable(
    engine: Engine, *, background: bool = True, observer: Observer = _UNOBSERVED, listings_held: int = LISTINGS_HELD
) -> None:
    """Keep a copy of `engine`'s search rows for `index_for`: read in a background thread when the
    directory changes (meanwhile searches go to the database), or with `background=False` by the
    search that first finds it stale; each copy holds up to `listings_held` listings (0: none).
    `observer` is told of every search and every read."""
    if listings_held < 0:
        raise ValueError(f"listings_held must be 0 or more, not {listings_held}")
    _copies[engine] = _Copy(background, observer, listings_held)


def disable(engine: Engine) -> None:
    _copies.pop(engine, None)


def index_for(session: Session) -> SearchIndex | None:
    """The copy of the directory this session sees, if the process has it; else None, and the
    search goes to the database: when copies are off for the session's engine, when the session
    has changes not yet flushed, when its transaction sees another revision than the copy's, or
    while a copy of the committed revision is being read.

    One read of the revision decides. A session with no transaction yet sees what is committed:
    the committed revision is read (revision.py's reader), and the session is left
    unbegun (a search whose listings the copy holds then opens no transaction of the
    session's; that was a tenth of such a request). In a session's transaction it is read
    there: a transaction with changes of its own sees a revision that no copy has (its bump
    holds the revision row, so no other commit reaches that number before it ends; rolled
    back, the number is never the copy's either, as the copy is read from committed data).
    Only when that differs from the copy's is the committed revision read too, to tell a stale
    copy (read a new one) from a session that sees other data (answer from the database)."""
    engine = session.get_bind().engine
    copy = _copies.get(engine)
    if copy is None:
        return None
    index = _current(engine, copy, session)
    copy.observer.answered(index is not None)
    return index


def _current(engine: Engine, copy: _Copy, session: Session) -> SearchIndex | None:
    """`index_for`, once copies are on for the engine."""
    if session.new or session.dirty or session.deleted:
        return None
    in_transaction = session.in_transaction()
    seen = read_directory_revision(session) if in_transaction else read_committed_revision(session)
    index = copy.index
    if index is not None and index.revision == seen:
        return index
    committed = read_committed_revision(session) if in_transaction else seen
    if (index is not None and index.revision == committed) or copy.failed_at == committed:
        return None
    if not copy.background:
        index = _read(engine, copy, committed)
        return index if index is not None and index.revision == seen else None
    with copy.lock:
        if copy.reading is None or not copy.reading.is_alive():
            copy.reading = threading.Thread(
                target=_read, args=(engine, copy, committed), name="search-rows-copy", daemon=True
            )
            copy.reading.start()
    return None


def warm_up() -> None:
    """If this process keeps copies of search rows, compile their ranking now (or load it from
    Numba's cache: kernels.py), as it would before reading its first copy: a gunicorn master
    does it once for all the workers it forks."""
    if _copies:
        kernels.compiled()


def refresh(engine: Engine) -> SearchIndex:
    """Read the copy of `engine`'s committed search rows now (copies must be enabled for it)."""
    index = _read(engine, _copies[engine])
    if index is None:
        raise RuntimeError("The search rows could not be read into memory; see the log.")
    return index


def _read(engine: Engine, copy: _Copy, revision: int | None = None) -> SearchIndex | None:
    """Read a copy and keep it, unless a newer one was kept meanwhile; `revision`: the committed
    revision that asked for it (a failure is not retried at the same revision)."""
    started = time.perf_counter()
    try:
        kernels.compiled()  # what ranks the copy, ready before the copy is (in the same thread)
        with engine.connect() as connection:
            index = read_index(connection, copy.listings_held)
    except Exception:  # the searches go on from the database
        copy.observer.read(time.perf_counter() - started, False)
        log.exception("Reading the search rows into memory failed (at revision %s)", revision)
        copy.failed_at = revision
        return None
    copy.observer.read(time.perf_counter() - started, True)
    with copy.lock:
        if copy.index is None or index.revision >= copy.index.revision:
            copy.index = index
    log.info("Search rows of revision %s held in memory: %s centers", index.revision, len(index))
    return index
