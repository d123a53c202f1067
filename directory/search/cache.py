"""Search results cached in each process, valid for one directory revision and a bounded time.

A search's answer depends only on where it starts (the coordinates the place resolved to), the
radius, the filters, the page and the order, and on the directory. So entries are keyed on
that normalized search ("19104" and " 19104 " share one), and every lookup first reads the
directory revision: a number that database triggers bump in the same transaction as any change
to `centers` or `center_attributes` (migration 0006), so it changes at the commit of an import,
a portal edit, a capacity change or a deletion, whichever process or connection made it. An
entry made at another revision is never served. Entries also expire after `max_age_seconds`,
since a few answers depend on the time ("confirmed in the last 180 days"), and the least
recently used go first once the entries hold more than `max_results` centers between them (a
result costs about 4 KB, with its JSON: a bound on memory whatever the page sizes asked for).

The cache also remembers what a request's text meant (the API's query string, as parsed and
geocoded), under the same bounds: reading the parameters and locating the place cost more than
answering a cached search, and the same text always means the same search.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from directory.search.engine import SearchFilters, SearchQuery, SearchResult, find_centers_near
from directory.search.revision import read_committed_revision, read_directory_revision
from directory.vocabulary import expand_medication_filter


@dataclass(frozen=True)
class SearchKey:
    """What decides a search's answer, normalized: equal keys, equal results."""

    latitude: float
    longitude: float
    radius_miles: float
    filters: SearchFilters
    page: int
    per_page: int
    sort: str


def _codes(values: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted(set(values)))


def search_key(query: SearchQuery) -> SearchKey:
    """The cache key of a search: the origin's coordinates (not the text typed), and each filter's
    codes as a set (order and repeats don't change what matches; "naltrexone" is either form)."""
    f = query.filters
    filters = replace(
        f,
        level_of_care=_codes(f.level_of_care),
        payment=_codes(f.payment),
        medication=_codes(tuple(expand_medication_filter(list(f.medication)))),
        population=_codes(f.population),
        language=_codes(f.language),
    )
    return SearchKey(
        latitude=float(query.origin.latitude),
        longitude=float(query.origin.longitude),
        radius_miles=float(query.radius_miles),
        filters=filters,
        page=query.page,
        per_page=query.per_page,
        sort=query.sort,
    )


T = TypeVar("T")

#: The longest request text whose meaning is remembered (longer ones are parsed every time).
MAX_TEXT = 1000


@dataclass(frozen=True)
class _Entry:
    result: SearchResult
    stored_at: float
    #: Renderings of the result (e.g. the API's JSON body), by (render function, variant).
    renderings: dict[Hashable, Any] = field(default_factory=dict)


def _weight(entry: _Entry) -> int:
    return max(1, len(entry.result.hits))


class SearchCache:
    """Search results of the current directory revision, holding at most `max_results` centers
    between them (an empty page counts as one), each for at most `max_age_seconds`; either of
    them 0 turns caching off (every search runs)."""

    def __init__(
        self,
        max_results: int,
        max_age_seconds: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        on_lookup: Callable[[bool], None] | None = None,
    ) -> None:
        if max_results < 0 or max_age_seconds < 0:
            raise ValueError("max_results and max_age_seconds must be 0 or more")
        self.max_results = max_results
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        self._on_lookup = on_lookup
        self._entries: OrderedDict[SearchKey, _Entry] = OrderedDict()
        self._queries: OrderedDict[str, tuple[SearchQuery, float]] = OrderedDict()
        self._held = 0  # centers in the entries' pages
        self._revision: int | None = None
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @property
    def enabled(self) -> bool:
        return self.max_results > 0 and self.max_age_seconds > 0

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def results_held(self) -> int:
        """How many centers the entries' pages hold between them (what `max_results` bounds)."""
        return self._held

    def search(self, session: Session, query: SearchQuery, *, now: datetime | None = None) -> SearchResult:
        """`find_centers_near(session, query, now=now)`, from the cache when an entry of the
        directory's current revision, younger than the age limit, has the same key."""
        if not self.enabled:
            return find_centers_near(session, query, now=now)
        entry = self._entry(session, query, now)
        return replace(entry.result, query=query)  # the same answer, described as this request asked

    def render(
        self,
        session: Session,
        query: SearchQuery,
        render: Callable[[SearchResult], T],
        *,
        variant: Hashable = None,
        now: datetime | None = None,
    ) -> T:
        """`render(self.search(session, query, now=now))`, kept with the cached result. `variant`
        names whatever the rendering depends on beyond the search key (e.g. the origin's label,
        which two spellings of one place may not share); it must not depend on the time."""
        if not self.enabled:
            return render(find_centers_near(session, query, now=now))
        entry = self._entry(session, query, now)
        name = (render, variant)
        rendering = entry.renderings.get(name)
        if rendering is None:
            rendering = entry.renderings[name] = render(replace(entry.result, query=query))
        return rendering

    def _entry(self, session: Session, query: SearchQuery, now: datetime | None) -> _Entry:
        """The cache entry of this search at the directory's current revision, made if missing."""
        revision = read_committed_revision(session)  # before the search: its data is at least as new
        if session.in_transaction() and read_directory_revision(session) != revision:
            # The session's transaction sees another directory than the one committed (its own
            # changes, or an older snapshot): its search is neither answered nor kept here.
            return _Entry(find_centers_near(session, query, now=now), self._clock())
        key = search_key(query)
        with self._lock:
            if revision != self._revision:
                self._entries.clear()
                self._held = 0
                self._revision = revision
            entry = self._entries.get(key)
            if entry is not None and self._clock() - entry.stored_at < self.max_age_seconds:
                self._entries.move_to_end(key)
                self.hits += 1
            else:
                entry = None
                self.misses += 1
        if self._on_lookup is not None:
            self._on_lookup(entry is not None)
        if entry is not None:
            return entry
        entry = _Entry(find_centers_near(session, query, now=now), self._clock())
        with self._lock:
            if revision == self._revision:
                replaced = self._entries.pop(key, None)
                self._held -= _weight(replaced) if replaced else 0
                self._entries[key] = entry
                self._held += _weight(entry)
                while self._held > self.max_results:
                    self._held -= _weight(self._entries.popitem(last=False)[1])
        return entry

    def query_for(self, text: str) -> SearchQuery | None:
        """The search that `text` (e.g. a query string) was remembered to mean, if still remembered."""
        if not self.enabled:
            return None
        with self._lock:
            found = self._queries.get(text)
            if found is None or self._clock() - found[1] >= self.max_age_seconds:
                return None
            self._queries.move_to_end(text)
            return found[0]

    def remember_query(self, text: str, query: SearchQuery) -> None:
        """Remember that `text` means `query`: as many texts as `max_results`, none longer than MAX_TEXT."""
        if not self.enabled or len(text) > MAX_TEXT:
            return
        with self._lock:
            self._queries[text] = (query, self._clock())
            self._queries.move_to_end(text)
            while len(self._queries) > self.max_results:
                self._queries.popitem(last=False)

    def clear(self) -> None:
        """Forget every entry (the counts stay)."""
        with self._lock:
            self._entries.clear()
            self._queries.clear()
            self._held = 0
            self._revision = None
