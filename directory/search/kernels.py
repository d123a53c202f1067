"""The two loops of a search from the copy of the search rows (memory.py), compiled by Numba.

A search of the real directory looks at a few dozen rows (a median of 30 in its box). Written
as NumPy array operations, its ranking made about ninety calls, each costing more than its
share of the work: the ranking took 0.18-0.29 ms a search, the largest part of what an
uncached search costs beyond `/healthz` (docs/benchmarks.md, session 17). Here each step is
one pass over the rows, compiled to machine code, and the ranking takes about 0.09 ms, most of
it the calls around the loops and the exact distances (PROJ, geodesy.py).

Numba is imported, and the loops compiled or loaded from its cache (`__pycache__` beside this
file, or NUMBA_CACHE_DIR), the first time a process asks for them (`compiled`): loading it costs
a process about 0.4 s and 100 MB, and only a process that searches from a copy needs it (a web
process; not Celery's workers, nor a command).

The arithmetic is in IEEE doubles without fast-math (no reordering, no fused multiply-adds);
the bounds keep RTREE_SLACK_MILES of slack for rounding, as the database's statements do, and
the tests hold the answers to the database's to the last bit.
"""

from __future__ import annotations

import functools
import threading
from types import SimpleNamespace

import numpy as np

#: `candidates`' filter on a row's confirmation: any, confirmed only, or not confirmed only.
ANY, CONFIRMED, NOT_CONFIRMED = 0, 1, 2


def candidates(
    keys,
    ids,
    latitudes,
    longitudes,
    masks,
    confirmed_at,
    languages,
    first_band,
    last_band,
    key_stride,
    wests,
    easts,
    south,
    north,
    required,
    refused,
    wanted_languages,
    confirmation,
    confirmed_after,
    lat,
    lon,
    wraps,
    lengths,
    inner,
    outer,
    slack,
    last,
):
    """The rows of the box that pass the filters and must be measured, as `memory.rank` decides:
    (how many rows are certainly inside, and of the rows to measure: their center ids, whether
    each is near the edge (uncertain), their latitudes, their longitudes).

    A row passes when its mask has some bit of each of `required`, none of `refused`, a language
    of `wanted_languages` (words of bits; length 0: no language filter) and the `confirmation`
    asked for (confirmed: `confirmed_at` after `confirmed_after`). `lengths` are the squares of
    the box's degree lengths (meridian and parallel, shortest then longest); `inner` and `outer`
    the squared radii within which a row's upper bound puts it certainly inside, and beyond which
    its lower bound puts it certainly outside. Rows near the edge are measured for the count, and
    those within reach of the centre for the page: the distance of the `last`-th smallest upper
    bound, when that is certainly inside (0: the count alone)."""
    bands = last_band - first_band + 1
    ranges = len(wests)
    starts = np.empty(bands * ranges, np.int64)
    stops = np.empty(bands * ranges, np.int64)
    rows = 0
    for band in range(bands):
        key = float(first_band + band) * key_stride
        for r in range(ranges):
            k = band * ranges + r
            starts[k] = np.searchsorted(keys, key + wests[r], side="left")
            stops[k] = np.searchsorted(keys, key + easts[r], side="right")
            rows += stops[k] - starts[k]
    m_min2, p_min2, m_max2, p_max2 = lengths[0], lengths[1], lengths[2], lengths[3]
    positions = np.empty(rows, np.int64)
    lowers = np.empty(rows)
    uppers = np.empty(rows)
    possible = 0
    for k in range(len(starts)):
        for p in range(starts[k], stops[k]):
            latitude = latitudes[p]
            if latitude < south or latitude > north:
                continue
            mask = masks[p]
            if mask & refused:
                continue
            passes = True
            for bits in required:
                if not mask & bits:
                    passes = False
                    break
            if not passes:
                continue
            if len(wanted_languages):
                speaks = False
                for word in range(len(wanted_languages)):
                    if languages[p, word] & wanted_languages[word]:
                        speaks = True
                        break
                if not speaks:
                    continue
            if confirmation != ANY and (confirmed_at[p] > confirmed_after) != (confirmation == CONFIRMED):
                continue
            dy = latitude - lat
            dx = abs(longitudes[p] - lon)
            if wraps:
                dx = min(dx, 360 - dx)
            dy2 = dy * dy
            dx2 = dx * dx
            lower = dy2 * m_min2 + dx2 * p_min2
            if not lower <= outer:
                continue
            positions[possible] = p
            lowers[possible] = lower
            uppers[possible] = dy2 * m_max2 + dx2 * p_max2
            possible += 1
    reach = outer
    if last == 0:
        reach = -1.0
    elif last < possible:
        kth = np.partition(uppers[:possible].copy(), last - 1)[last - 1]
        if kth <= inner:
            reach = (np.sqrt(kth) + slack) ** 2
    certain = 0
    measured = 0
    edge = np.empty(possible, np.bool_)
    for i in range(possible):
        inside = uppers[i] <= inner
        if inside:
            certain += 1
        if not inside or lowers[i] <= reach:
            positions[measured] = positions[i]
            edge[measured] = not inside
            measured += 1
    positions = positions[:measured]
    return certain, ids[positions], edge[:measured], latitudes[positions], longitudes[positions]


def ranked(ids, edge, distances, radius, certain, first, last):
    """Of the measured rows (their center `ids`, whether each is near the edge, their exact
    `distances`): how many matches are within the radius, and when the page `first` to `last`
    holds any, the ids and distances of those within it in (distance, id) order, with the runs
    (start, end) of that order whose distances are equal and which reach into the page; else
    empty arrays."""
    inside = distances <= radius
    total = certain
    for i in range(len(ids)):
        if edge[i] and inside[i]:
            total += 1
    if first >= min(last, total):
        return total, ids[:0], distances[:0], np.empty((0, 2), np.int64)
    ids, distances = ids[inside], distances[inside]
    by_id = np.argsort(ids)
    order = by_id[np.argsort(distances[by_id], kind="mergesort")]  # by distance, then id
    ids, distances = ids[order], distances[order]
    runs = []
    start = 0
    for i in range(1, len(ids) + 1):
        if i == len(ids) or distances[i] != distances[start]:
            if i - start > 1 and start < last and i > first:
                runs.append((start, i))
            start = i
    found = np.empty((len(runs), 2), np.int64)
    for r in range(len(runs)):
        found[r, 0], found[r, 1] = runs[r]
    return total, ids, distances, found


def compiled() -> SimpleNamespace:
    """`candidates` and `ranked` compiled, each for the one signature the copy calls it with (an
    argument of another type is converted, or refused: never a silent compilation of another
    version). The first process on a machine compiles them (about 20 s of CPU); later ones load
    them from Numba's cache (under a second). Once per process, whichever thread asks first."""
    with _compiling:
        return _compile()


_compiling = threading.Lock()


@functools.cache
def _compile() -> SimpleNamespace:
    from numba import boolean, float64, int64, njit, uint64

    floats, ints, words = float64[::1], int64[::1], uint64[::1]
    compile_ = functools.partial(njit, cache=True, nogil=True)
    return SimpleNamespace(
        candidates=compile_(
            [
                (
                    *(floats, ints, floats, floats, ints, ints, uint64[:, ::1]),  # the copy's arrays
                    *(int64, int64, float64, floats, floats, float64, float64),  # the box
                    *(ints, int64, words, int64, int64),  # the filters
                    *(float64, float64, boolean, floats, float64, float64, float64, int64),  # the bounds
                )
            ]
        )(candidates),
        ranked=compile_([(ints, boolean[::1], floats, float64, int64, int64, int64)])(ranked),
    )
