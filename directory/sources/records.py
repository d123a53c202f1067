"""A validated center record, and the field checks every importer shares.

Importers turn one row of their source into a `CenterRecord` through a `RowChecker`,
which collects every problem of the row (column, bad value, what is accepted) instead
of stopping at the first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

import phonenumbers

from directory.translatable import N_, Message
from directory.vocabulary import ATTRIBUTE_VOCABULARIES, STATES

#: The project's CSV columns, in order; multi-valued columns are separated by ";".
CSV_COLUMNS = (
    "external_id", "name", "alt_name", "street1", "street2", "city", "state", "zip",
    "phone", "intake_phone", "website", "latitude", "longitude", "levels_of_care",
    "detox_substances", "payment_options", "medications", "populations", "languages", "accepting_referrals",
    "beds_available", "detox_stay_days", "source", "source_vintage", "source_date", "last_verified_at",
)  # fmt: skip

#: Columns a file of the project's format may leave out (files written before they existed).
OPTIONAL_COLUMNS = ("source_date", "detox_substances")

MULTI_VALUED = tuple(ATTRIBUTE_VOCABULARIES)

SCALAR_FIELDS = (
    "name", "alt_name", "street1", "street2", "city", "state", "zip", "phone",
    "intake_phone", "website", "latitude", "longitude", "accepting_referrals",
    "beds_available", "detox_stay_days", "source", "source_vintage", "source_date", "last_verified_at",
)  # fmt: skip


@dataclass(frozen=True)
class ImportIssue:
    """One problem found in an input file, precise enough to fix by hand."""

    path: str
    line: int
    column: str
    value: str
    message: str

    def __str__(self) -> str:
        shown = self.value if len(self.value) <= 80 else self.value[:77] + "..."
        return f"{self.path}:{self.line}: column {self.column!r}: {self.message} (got {shown!r})"


@dataclass(frozen=True)
class RowOutcome:
    """What an import did with one row, or with a listing no row had, and why (its detailed report)."""

    outcome: str  #: "matched", "left out", "superseded", "kept" or "tie"
    line: int  #: the row's line in the file; 0 for a listing no row had
    external_id: str
    center_id: int | None
    name: str
    why: str


@dataclass
class CenterRecord:
    """A center as read from any source, already in the public vocabulary."""

    external_id: str
    name: str
    city: str
    state: str
    zip: str
    latitude: float
    longitude: float
    source: str
    alt_name: str | None = None
    street1: str | None = None
    street2: str | None = None
    phone: str | None = None
    intake_phone: str | None = None
    website: str | None = None
    accepting_referrals: bool | None = None
    beds_available: int | None = None
    detox_stay_days: int | None = None
    source_vintage: int | None = None
    source_date: date | None = None
    last_verified_at: datetime | None = None
    levels_of_care: list[str] = field(default_factory=list)
    detox_substances: list[str] = field(default_factory=list)
    payment_options: list[str] = field(default_factory=list)
    medications: list[str] = field(default_factory=list)
    populations: list[str] = field(default_factory=list)
    languages: list[str] = field(default_factory=list)
    #: Fields this row's source does not give (not "empty"): an update leaves the listing's own.
    not_in_source: frozenset[str] = frozenset()
    line: int = 0


@dataclass
class ParsedRow:
    """One input row, or the merged rows of one site: a record, the issues that kept it from being
    one, or why it is left out."""

    line: int
    record: CenterRecord | None
    issues: list[ImportIssue]
    #: Further input rows merged into this one's record (rows of one site).
    merged: int = 0
    #: Why the row is left out, for a row that is valid but not a listing of this directory.
    left_out: str | None = None


def field_count_issue(row: Mapping[Any, Any], header: Sequence[str], path: str, line: int) -> ImportIssue | None:
    """The issue of a `csv.DictReader` row with more or fewer fields than its header, if any."""
    extra = row.get(None) or []
    missing = sum(1 for column in header if row.get(column) is None)
    if not extra and not missing:
        return None
    count = len(header) + len(extra) - missing
    shown = extra if extra else [row[c] for c in header if row.get(c) is not None]
    return ImportIssue(
        path, line, "(row)", ",".join(map(str, shown)), f"has {count} fields; expected {len(header)}, one per column"
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ZIP = re.compile(r"^[0-9]{5}(-[0-9]{4})?$")
_EXTERNAL_ID = re.compile(r"^[a-z0-9][a-z0-9._-]*:[A-Za-z0-9][A-Za-z0-9._:-]*$")
#: A number exactly as `format_phone` writes it (as the project's CSV holds them): taken as is,
#: which gives what phonenumbers would and skips a third of an import's time.
_FORMATTED_PHONE = re.compile(r"\([2-9][0-9]{2}\) [0-9]{3}-[0-9]{4}(?: ext\. [0-9]{1,7})?")
#: What a phone number must be (the intake's check says it too).
PHONE_FORMAT = N_("a 10-digit US phone number, e.g. (334) 673-2143 or 334-673-2143 x114")
_TRUE = {"true", "yes", "y", "1"}
_FALSE = {"false", "no", "n", "0"}


class RowChecker:
    """Checks the fields of one row, collecting every issue with its column and value. The messages
    are marked for the catalogue: the portal's forms show them translated."""

    def __init__(self, path: str, line: int) -> None:
        self.path = path
        self.line = line
        self.issues: list[ImportIssue] = []

    def fail(self, column: str, value: object, message: str) -> None:
        self.issues.append(ImportIssue(self.path, self.line, column, str(value), message))

    def text(self, column: str, value: str | None, *, required: bool = False, max_len: int = 200) -> str | None:
        value = " ".join((value or "").split())
        if not value:
            if required:
                self.fail(column, "", N_("is required"))
            return None
        if _CONTROL.search(value):
            self.fail(column, value, N_("contains control characters"))
            return None
        if len(value) > max_len:
            self.fail(column, value, Message(N_("is longer than %(n)s characters"), n=max_len))
            return None
        return value

    def external_id(self, column: str, value: str | None) -> str | None:
        value = (value or "").strip()
        if not _EXTERNAL_ID.match(value) or len(value) > 200:
            self.fail(column, value, N_('must be "<source>:<id>", e.g. "samhsa-nssats-2015:7363AL36310"'))
            return None
        return value

    def state(self, column: str, value: str | None) -> str | None:
        code = (value or "").strip().upper()
        if code not in STATES:
            self.fail(column, value or "", N_("is not a US state or territory code (two letters, e.g. AL, DC, PR)"))
            return None
        return code

    def zip_code(self, column: str, value: str | None, *, pad: bool = False) -> str | None:
        raw = (value or "").strip()
        if pad and raw.isascii() and raw.isdigit() and 3 <= len(raw) < 5:
            raw = raw.zfill(5)
        if not _ZIP.match(raw):
            self.fail(column, value or "", N_("is not a ZIP code (5 digits, e.g. 02139)"))
            return None
        return raw[:5]

    def coordinate(self, column: str, value: str | None, limit: float, *, digits: int | None = None) -> float | None:
        try:
            number = float((value or "").strip())
        except ValueError:
            self.fail(
                column,
                value or "",
                Message(N_("is not a number (decimal degrees, -%(limit)s to %(limit)s)"), limit=f"{limit:g}"),
            )
            return None
        if not -limit <= number <= limit or number != number:
            self.fail(
                column,
                value or "",
                Message(N_("is out of range (decimal degrees, -%(limit)s to %(limit)s)"), limit=f"{limit:g}"),
            )
            return None
        return round(number, digits) if digits is not None else number

    def phone(self, column: str, value: str | None) -> str | None:
        """A North American phone number, formatted "(555) 123-4567" with " ext. N" if any."""
        raw = (value or "").strip()
        if not raw:
            return None
        if _FORMATTED_PHONE.fullmatch(raw):
            return raw
        try:
            number = phonenumbers.parse(raw, "US")
        except phonenumbers.NumberParseException:
            number = None
        if number is None or number.country_code != 1 or not _has_area_code(number):
            self.fail(column, raw, Message(N_("is not %(format)s"), format=Message(PHONE_FORMAT)))
            return None
        return format_phone(number)

    def website(self, column: str, value: str | None) -> str | None:
        raw = (value or "").strip()
        if not raw:
            return None
        try:
            parts = urlsplit(raw)
        except ValueError:  # e.g. an unclosed "[" read as an IPv6 host
            parts = urlsplit("")
        bad_characters = " " in raw or not raw.isprintable()
        if parts.scheme not in ("http", "https") or "." not in parts.netloc or bad_characters or len(raw) > 300:
            self.fail(column, raw, N_("is not a web address starting with http:// or https://"))
            return None
        return raw

    def codes(self, column: str, value: str | None, kind: str) -> list[str]:
        vocabulary = ATTRIBUTE_VOCABULARIES[kind]
        codes = [c.strip() for c in (value or "").split(";") if c.strip()]
        unknown = [c for c in codes if c not in vocabulary]
        if unknown:
            self.fail(
                column,
                ";".join(unknown),
                Message(N_("has unknown codes; accepted: %(codes)s"), codes=", ".join(vocabulary)),
            )
        return sorted({c for c in codes if c in vocabulary})

    def boolean(self, column: str, value: str | None, *, default: bool | None) -> bool | None:
        raw = (value or "").strip().lower()
        if not raw:
            return default
        if raw in _TRUE:
            return True
        if raw in _FALSE:
            return False
        message = (
            N_("must be true or false") if default is not None else N_("must be true or false (or empty: not known)")
        )
        self.fail(column, value or "", message)
        return default

    def integer(self, column: str, value: str | None, *, low: int, high: int) -> int | None:
        raw = (value or "").strip()
        if not raw:
            return None
        if not re.fullmatch(r"[0-9]+", raw) or not low <= int(raw) <= high:
            self.fail(column, raw, Message(N_("must be a whole number from %(low)s to %(high)s"), low=low, high=high))
            return None
        return int(raw)

    def day(self, column: str, value: str | None) -> date | None:
        raw = (value or "").strip()
        if not raw:
            return None
        try:
            return date.fromisoformat(raw)
        except ValueError:
            self.fail(column, raw, N_("is not a date written YYYY-MM-DD, e.g. 2025-08-19"))
            return None

    def timestamp(self, column: str, value: str | None) -> datetime | None:
        raw = (value or "").strip()
        if not raw:
            return None
        try:
            moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            try:
                moment = datetime.combine(date.fromisoformat(raw), datetime.min.time())
            except ValueError:
                self.fail(column, raw, N_("is not an ISO 8601 date or time, e.g. 2026-03-01T14:30:00Z"))
                return None
        if moment.tzinfo is not None:
            try:
                moment = moment.astimezone(UTC).replace(tzinfo=None)
            except OverflowError:
                self.fail(column, raw, N_("is out of range once converted to UTC"))
                return None
        return moment


def _has_area_code(number: phonenumbers.PhoneNumber) -> bool:
    # Not is_possible_number(): it also accepts 7-digit local numbers, useless without an area code.
    return phonenumbers.is_possible_number_with_reason(number) == phonenumbers.ValidationResult.IS_POSSIBLE


def format_phone(number: phonenumbers.PhoneNumber) -> str:
    """Format a parsed number the one way the directory shows phone numbers."""
    text = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)
    if number.extension:
        text = text.split(" ext.")[0] + f" ext. {number.extension}"
    return text


def format_timestamp(moment: datetime | None) -> str:
    """A stored (naive UTC) timestamp as ISO 8601 with a Z, or "" for none."""
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ") if moment else ""
