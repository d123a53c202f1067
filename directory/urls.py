"""Record ids in URLs: whole numbers an integer column can hold, so any other number is not found
(404) rather than overflowing the database driver (PostgreSQL compares ids as 32-bit integers)."""

from __future__ import annotations

from typing import Any

from werkzeug.routing import IntegerConverter

#: The largest id an `Integer` column holds.
MAX_ID = 2**31 - 1


def _numbers_up_to(limit: int) -> str:
    """A regular expression for the whole numbers from 0 to `limit`, in at most as many digits."""
    digits = str(limit)
    parts = [rf"\d{{1,{len(digits) - 1}}}"] if len(digits) > 1 else []
    for i, digit in enumerate(digits):
        if digit != "0":
            rest = len(digits) - i - 1
            parts.append(f"{digits[:i]}[0-{int(digit) - 1}]" + (rf"\d{{{rest}}}" if rest else ""))
    return "(?:" + "|".join([*parts, digits]) + ")"


class IdConverter(IntegerConverter):
    """`<int:...>` in routes, limited to ids: a larger number does not match the route (404).

    (A limit checked after matching would make werkzeug answer 405 when another method's route
    has the same path; one in the pattern itself does not.)
    """

    regex = _numbers_up_to(MAX_ID)


def as_id(value: Any) -> int | None:
    """A query-string id (`?center=12`) as an int, or None when it is not one a record could have."""
    text = str(value or "")
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        return None
    return int(text)
