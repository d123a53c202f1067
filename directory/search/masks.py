"""The search's narrow row per center: its exact point, and its filters as one bitmask.

Migration 0007 keeps `center_search_rows` (one row per center) in step with the centers and
their attributes by triggers, numbering the codes as `filter_bits` does; FILTER_BITS below
is the same numbering (a test compares them). A filter "any of these codes" is then
`mask & bits != 0` on one narrow row, instead of an `EXISTS` on the attribute rows, and the
exact distances are measured without reading the wide `centers` rows.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from sqlalchemy import BigInteger, Column, Float, Integer, MetaData, Table

from directory.vocabulary import ATTRIBUTE_VOCABULARIES

#: The kinds whose codes have bits; languages (95 codes) are filtered with EXISTS.
MASKED_KINDS = ("levels_of_care", "payment_options", "medications", "populations")

#: (kind, code) -> bit number, in vocabulary order, kind after kind.
FILTER_BITS: dict[tuple[str, str], int] = {
    key: bit for bit, key in enumerate((kind, code) for kind in MASKED_KINDS for code in ATTRIBUTE_VOCABULARIES[kind])
}

#: Set when the center accepts referrals.
ACCEPTING_REFERRALS = 1 << 62

center_search_rows = Table(
    "center_search_rows",
    MetaData(),
    Column("center_id", Integer, primary_key=True),
    Column("latitude", Float, nullable=False),
    Column("longitude", Float, nullable=False),
    Column("mask", BigInteger, nullable=False),
)


def bits(kind: str, codes: Iterable[str]) -> int:
    """The mask of these codes of one kind (codes outside the vocabulary have none)."""
    return sum(1 << FILTER_BITS[kind, code] for code in set(codes) if (kind, code) in FILTER_BITS)


_CODE_OF_BIT = {bit: key for key, bit in FILTER_BITS.items()}


@functools.lru_cache(maxsize=4096)
def codes_of_mask(mask: int) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """(kind, sorted codes) of the codes whose bits are set, for each kind with any; what a
    listing shows of the small vocabularies (many centers share a mask, hence the cache)."""
    by_kind: dict[str, list[str]] = {}
    for bit, (kind, code) in _CODE_OF_BIT.items():
        if mask >> bit & 1:
            by_kind.setdefault(kind, []).append(code)
    return tuple((kind, tuple(sorted(codes))) for kind, codes in by_kind.items())
