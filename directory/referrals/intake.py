"""Validating a referral intake: the same rules for the web form and the API.

The messages are English strings marked for the catalogue (`directory.translatable`): the API
answers with them as they are, the intake form shows them in the person's language.

Minimum necessary data only: the referrer's own reference for the person (no name, no
date of birth), where they are, how they pay, and the facts the clinical rules need, plus
consent to share with the receiving centers (42 CFR Part 2 style).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, available_timezones

from directory.routing.rules import (
    INTERACTING_MEDICATIONS,
    LIVER_DISEASE_ANSWERS,
    PRIMARY_OPIOIDS,
    RECENT_OPIOID_USE_ANSWERS,
    USE_DISORDERS,
)
from directory.search.geocoding import Geocoder, PlaceNotFound
from directory.sources.records import PHONE_FORMAT, RowChecker
from directory.translatable import N_, Message
from directory.vocabulary import LANGUAGES, PAYMENT_OPTIONS, POPULATIONS

DEFAULT_MAX_DISTANCE_MILES = 50
MAX_DISTANCE_LIMIT_MILES = 500
#: Control characters other than tab and line breaks (which a text area sends).
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
#: A last use this far in the future is taken as clock skew, not an error.
CLOCK_SKEW = timedelta(minutes=5)

FIELDS = (
    "client_reference", "contact_phone", "location", "max_distance_miles", "payment", "use_disorders",
    "primary_opioid", "last_opioid_use", "recent_opioid_use", "liver_disease", "on_opioid_pain_therapy",
    "interacting_medications", "alcohol_use_disorder", "language", "populations", "consent", "time_zone",
)  # fmt: skip
CONSENT_FIELDS = ("granted", "recipients", "purpose", "expires_on")
#: The longest a consent to share a referral may run, in days from the intake: a year.
MAX_CONSENT_DAYS = 365
#: The time zone of an intake that names none: a last-use time without an offset is UTC.
DEFAULT_TIME_ZONE = "UTC"


#: Names in the time zone database that are not places: the server's own zone, and placeholders.
NOT_PLACES = frozenset({"localtime", "Factory", "posixrules"})


@functools.cache
def time_zone_names() -> frozenset[str]:
    """Every IANA time zone name this machine knows (the system's database, else the tzdata package),
    but the names that are not places and the `posix/` and `right/` copies."""
    return frozenset(
        name for name in available_timezones() if name not in NOT_PLACES and not name.startswith(("posix/", "right/"))
    )


class IntakeInvalid(ValueError):
    """The intake has problems; `fields` maps each field to its messages."""

    def __init__(self, fields: dict[str, list[str]]) -> None:
        self.fields = fields
        super().__init__("; ".join(f"{name}: {' '.join(messages)}" for name, messages in fields.items()))


@dataclass(frozen=True)
class Intake:
    client_reference: str
    contact_phone: str | None
    location: str
    latitude: float
    longitude: float
    max_distance_miles: float
    payment: str
    alcohol_use_disorder: bool
    opioid_use_disorder: bool
    #: Alcohol alone: any opioid use in the last 10 days ("yes", "no", "unknown"); None for opioids.
    recent_opioid_use: str | None
    #: Required for opioids; for alcohol alone, kept only when opioid use in the last 10 days is not ruled out.
    primary_opioid: str | None
    last_opioid_use: datetime | None  # naive UTC
    liver_disease: str
    on_opioid_pain_therapy: bool
    interacting_medications: tuple[str, ...]
    language: str | None
    populations: tuple[str, ...]
    consent_recipients: str
    consent_purpose: str
    consent_expires_on: date
    location_label: str = field(default="")
    #: The referrer's IANA time zone, in which a last-use time without an offset was read.
    time_zone: str = DEFAULT_TIME_ZONE


def _one_of(value: Any, accepted: tuple[str, ...] | list[str], errors: list[str]) -> str | None:
    if isinstance(value, str) and value in accepted:
        return value
    errors.append(
        Message(N_("Unknown value %(value)s; accepted: %(accepted)s."), value=repr(value), accepted=", ".join(accepted))
    )
    return None


def _boolean(value: Any, errors: list[str], *, default: bool | None = None) -> bool | None:
    if value is None or value == "":
        if default is None:
            errors.append(N_("Required: true or false."))
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false", "yes", "no", "1", "0", "on"):
        return value.lower() in ("true", "yes", "1", "on")
    errors.append(N_("Must be true or false."))
    return default


def _codes(value: Any, accepted: Mapping[str, str] | tuple[str, ...], errors: list[str]) -> tuple[str, ...]:
    if value is None or value == "":
        return ()
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        errors.append(N_("Must be a list of codes."))
        return ()
    codes = [v.strip() for v in items if v.strip()]
    unknown = [c for c in codes if c not in accepted]
    if unknown:
        errors.append(
            Message(
                N_("Unknown %(codes)s; accepted: %(accepted)s."),
                codes=", ".join(map(repr, unknown)),
                accepted=", ".join(accepted),
            )
        )
    return tuple(dict.fromkeys(c for c in codes if c in accepted))


def _time_zone(value: Any, errors: list[str]) -> str | None:
    if value is None or value == "":
        return DEFAULT_TIME_ZONE
    if isinstance(value, str) and value in time_zone_names():
        return value
    errors.append(
        Message(
            N_("Unknown time zone %(value)s; give an IANA name, e.g. America/New_York, America/Chicago or UTC."),
            value=repr(value),
        )
    )
    return None


def _datetime(value: Any, zone_name: str, errors: list[str]) -> datetime | None:
    """The moment as naive UTC: with an offset as given; without one, as a wall-clock time in `zone_name`."""
    if not isinstance(value, str) or not value.strip():
        errors.append(N_("Required: a date and time, e.g. 2026-03-01T14:30:00Z."))
        return None
    if _is_date_alone(value.strip()):  # midnight would start the opioid-free window early
        errors.append(
            Message(
                N_(
                    "%(value)s has no time of day; give the date and time of the last use, or the latest time "
                    "it may have been that day, e.g. %(value)sT23:59."
                ),
                value=value.strip(),
            )
        )
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        errors.append(
            Message(N_("%(value)s is not a date and time; use ISO 8601, e.g. 2026-03-01T14:30:00Z."), value=repr(value))
        )
        return None
    if moment.tzinfo is None:
        moment = _wall_clock(moment, ZoneInfo(zone_name), value, errors)
        if moment is None:
            return None
    try:
        return moment.astimezone(UTC).replace(tzinfo=None)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        errors.append(Message(N_("%(value)s is out of range once converted to UTC."), value=repr(value)))
        return None


def _is_date_alone(value: str) -> bool:
    try:
        date.fromisoformat(value)
    except ValueError:
        return False
    return True


def _wall_clock(moment: datetime, zone: ZoneInfo, value: str, errors: list[str]) -> datetime | None:
    """A wall-clock time where the referrer is. A time the clocks skipped (spring forward) is refused;
    one they showed twice (fall back) is taken as the later of the two, so the opioid-free window
    counted from it is never shortened."""
    earlier, later = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    try:
        if earlier.astimezone(UTC) == later.astimezone(UTC):
            return earlier
        if later.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != moment:
            errors.append(
                Message(
                    N_(
                        "%(value)s did not happen in %(zone)s: the clocks went forward an hour then. "
                        "Give the time as the clock showed it, before or after the skipped hour."
                    ),
                    value=repr(value),
                    zone=zone.key,
                )
            )
            return None
    except OverflowError:  # e.g. 0001-01-01T00:00 in a zone ahead of UTC
        errors.append(Message(N_("%(value)s is out of range once converted to UTC."), value=repr(value)))
        return None
    return earlier if earlier.astimezone(UTC) > later.astimezone(UTC) else later


def _use_disorders(data: Mapping[str, Any], errors: list[str], alcohol_errors: list[str]) -> tuple[bool, bool] | None:
    """(alcohol, opioids) from `use_disorders`. An intake without it is for opioids if it names a primary
    opioid, and for alcohol if `alcohol_use_disorder` is true (both, if both)."""
    alcohol_flag = _boolean(data.get("alcohol_use_disorder"), alcohol_errors, default=False)
    given = data.get("use_disorders")
    if given is None:
        opioids = data.get("primary_opioid") not in (None, "")
        if not (opioids or alcohol_flag):
            errors.append(
                N_(
                    "Required: the use disorders the referral is for; accepted: alcohol, opioids, or both "
                    '(e.g. ["alcohol", "opioids"]).'
                )
            )
            return None
        return bool(alcohol_flag), opioids
    named = _codes(given, USE_DISORDERS, errors)
    if errors:
        return None
    if not named:
        errors.append(N_("Name at least one: alcohol, opioids, or both."))
        return None
    alcohol = "alcohol" in named
    if data.get("alcohol_use_disorder") not in (None, "") and alcohol_flag is not None and alcohol_flag != alcohol:
        alcohol_errors.append(
            Message(N_("Is %(value)s, but use_disorders names alcohol; leave it out, or make it agree."), value="false")
            if alcohol
            else Message(
                N_("Is %(value)s, but use_disorders does not name alcohol; leave it out, or make it agree."),
                value="true",
            )
        )
    return alcohol, "opioids" in named


def _required_one_of(value: Any, accepted: tuple[str, ...], missing: str, errors: list[str]) -> str | None:
    """A required choice: `missing` (a message naming %(accepted)s) if absent, else as `_one_of`."""
    if value is None or value == "":
        errors.append(Message(missing, accepted=", ".join(accepted)))
        return None
    return _one_of(value, accepted, errors)


def _consent_text(value: Any) -> str:
    """Free text of the consent (line breaks allowed); "" when it is not text or has control characters."""
    if not isinstance(value, str) or _CONTROL.search(value):
        return ""
    return value.strip()


def validate_intake(data: Mapping[str, Any], geocoder: Geocoder, now: datetime) -> Intake:
    """Check every field and locate the place; raises IntakeInvalid listing every problem."""
    problems: dict[str, list[str]] = {}

    def errors_for(name: str) -> list[str]:
        return problems.setdefault(name, [])

    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        errors_for("(body)").append(f"Unknown fields {', '.join(unknown)}; accepted: {', '.join(FIELDS)}.")

    reference = data.get("client_reference")
    if not isinstance(reference, str) or not reference.strip():
        errors_for("client_reference").append(N_("Required: your own reference for this person (not their name)."))
    elif len(reference.strip()) > 64:
        errors_for("client_reference").append(N_("At most 64 characters."))
    elif any(ord(ch) < 32 for ch in reference):
        errors_for("client_reference").append(N_("Must not contain control characters."))

    check = RowChecker("intake", 0)
    phone = check.phone(
        "contact_phone", data.get("contact_phone") if isinstance(data.get("contact_phone"), str) else ""
    )
    if check.issues:
        errors_for("contact_phone").append(Message(N_("Is not %(format)s."), format=Message(PHONE_FORMAT)))

    place = None
    location = data.get("location")
    try:
        place = geocoder.locate(location if isinstance(location, str) else "")
    except PlaceNotFound as error:
        errors_for("location").append(error.message)

    distance = data.get("max_distance_miles", DEFAULT_MAX_DISTANCE_MILES)
    if distance in (None, ""):
        distance = DEFAULT_MAX_DISTANCE_MILES
    try:
        distance = float(distance)
        if not 1 <= distance <= MAX_DISTANCE_LIMIT_MILES:
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        errors_for("max_distance_miles").append(
            Message(N_("A number of miles from 1 to %(limit)s."), limit=MAX_DISTANCE_LIMIT_MILES)
        )

    payment = _one_of(data.get("payment"), list(PAYMENT_OPTIONS), errors_for("payment"))
    disorders = _use_disorders(data, errors_for("use_disorders"), errors_for("alcohol_use_disorder"))
    alcohol, opioids = disorders or (False, False)
    zone = _time_zone(data.get("time_zone"), errors_for("time_zone"))
    recent = None
    if disorders and not opioids:  # alcohol alone: are opioids in the body?
        recent = _required_one_of(
            data.get("recent_opioid_use"), RECENT_OPIOID_USE_ANSWERS,
            N_(
                "Required when the referral is for alcohol alone (any opioid use in the last 10 days?); "
                "accepted: %(accepted)s."
            ),
            errors_for("recent_opioid_use"),
        )  # fmt: skip
    elif data.get("recent_opioid_use") not in (None, ""):
        _one_of(data.get("recent_opioid_use"), RECENT_OPIOID_USE_ANSWERS, errors_for("recent_opioid_use"))
    # Opioid facts: required for opioids; for alcohol alone optional, and kept only if opioid use is not ruled out.
    opioid = last_use = None
    if opioids or data.get("primary_opioid") not in (None, ""):
        missing = N_("Required when the referral is for opioids; accepted: %(accepted)s.")
        opioid = _required_one_of(data.get("primary_opioid"), PRIMARY_OPIOIDS, missing, errors_for("primary_opioid"))
    if zone and (opioids or data.get("last_opioid_use") not in (None, "")):
        last_use = _datetime(data.get("last_opioid_use"), zone, errors_for("last_opioid_use"))
    if last_use is not None and last_use > now + CLOCK_SKEW:
        errors_for("last_opioid_use").append(N_("Is in the future; give the date and time of the last use."))
    if recent == "no" and last_use is not None and last_use > now - timedelta(days=10):
        errors_for("recent_opioid_use").append(
            N_("Is no, but the last opioid use given is within the last 10 days; answer yes, or correct the last use.")
        )
    if disorders and not opioids and recent not in ("yes", "unknown"):
        opioid = last_use = None  # opioids ruled out (or the answer is invalid): routing needs no opioid facts
    liver = _one_of(data.get("liver_disease"), LIVER_DISEASE_ANSWERS, errors_for("liver_disease"))
    pain = _boolean(data.get("on_opioid_pain_therapy"), errors_for("on_opioid_pain_therapy"))
    interactions = _codes(
        data.get("interacting_medications"), INTERACTING_MEDICATIONS, errors_for("interacting_medications")
    )
    language = data.get("language") or None
    if language is not None:
        language = _one_of(language, list(LANGUAGES), errors_for("language"))
    populations = _codes(data.get("populations"), POPULATIONS, errors_for("populations"))

    consent = data.get("consent")
    consent_errors = errors_for("consent")
    recipients = purpose = ""
    expires_on = None
    if not isinstance(consent, Mapping):
        consent_errors.append(
            N_(
                "Required: the person's consent to share this referral with receiving centers, as "
                '{"granted": true, "recipients": "...", "purpose": "...", "expires_on": "YYYY-MM-DD"}.'
            )
        )
    else:
        if consent.get("granted") is not True and str(consent.get("granted")).lower() not in ("true", "on", "yes"):
            consent_errors.append(N_("Consent must be granted to share the referral with centers."))
        recipients = _consent_text(consent.get("recipients"))
        purpose = _consent_text(consent.get("purpose"))
        if not recipients:
            consent_errors.append(N_("Say who may receive the referral (recipients), in words."))
        if not purpose:
            consent_errors.append(N_("Say for what purpose it may be shared (purpose), in words."))
        try:
            expires_on = date.fromisoformat(str(consent.get("expires_on") or ""))
            if expires_on < now.date():
                consent_errors.append(
                    Message(N_("Consent expired on %(day)s; ask the person to renew it."), day=expires_on.isoformat())
                )
            elif expires_on > now.date() + timedelta(days=MAX_CONSENT_DAYS):
                consent_errors.append(
                    Message(
                        N_("Consent may run at most a year, until %(day)s; the person can renew it then."),
                        day=(now.date() + timedelta(days=MAX_CONSENT_DAYS)).isoformat(),
                    )
                )
        except ValueError:
            consent_errors.append(N_("Give the date the consent ends (expires_on, YYYY-MM-DD)."))

    problems = {name: messages for name, messages in problems.items() if messages}
    if problems:
        raise IntakeInvalid(problems)
    assert place is not None and payment and disorders and zone and liver and pain is not None
    assert not opioids or (opioid and last_use)
    assert expires_on
    return Intake(
        client_reference=str(reference).strip(),
        contact_phone=phone,
        location=str(location).strip(),
        latitude=place.latitude,
        longitude=place.longitude,
        max_distance_miles=float(distance),
        payment=payment,
        alcohol_use_disorder=alcohol,
        opioid_use_disorder=opioids,
        recent_opioid_use=recent,
        primary_opioid=opioid,
        last_opioid_use=last_use,
        liver_disease=liver,
        on_opioid_pain_therapy=pain,
        interacting_medications=interactions,
        language=language,
        populations=populations,
        consent_recipients=recipients[:2000],
        consent_purpose=purpose[:2000],
        consent_expires_on=expires_on,
        location_label=place.label,
        time_zone=zone,
    )
