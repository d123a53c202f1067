"""The shapes of API responses; the OpenAPI document is generated from these models."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic_core import to_json

from directory.centers_editing import MAX_BEDS, HistoryEntry
from directory.models import Center
from directory.routing.rules import (
    INTERACTING_MEDICATIONS,
    LIVER_DISEASE_ANSWERS,
    PRIMARY_OPIOIDS,
    RECENT_OPIOID_USE_ANSWERS,
    USE_DISORDERS,
)
from directory.search.listing import CenterListing
from directory.search.service import SearchResult
from directory.sources.records import format_timestamp


class Origin(BaseModel):
    label: str = Field(description="The place searched from, as understood.")
    latitude: float
    longitude: float


class CenterSummary(BaseModel):
    id: int
    slug: str
    name: str
    street1: str | None
    street2: str | None = Field(description="Suite, floor or building, or null.")
    city: str
    state: str
    zip: str
    phone: str | None
    intake_phone: str | None = Field(description="The intake (admissions) line, or null when the center lists none.")
    website: str | None
    latitude: float
    longitude: float
    distance_miles: float = Field(description="WGS-84 geodesic distance from the origin, to 0.1 mile.")
    levels_of_care: list[str]
    detox_substances: list[str] = Field(description="What the center offers detox for (detox_substances codes).")
    payment_options: list[str]
    medications: list[str]
    populations: list[str]
    languages: list[str]
    accepting_referrals: bool | None = Field(description="null when the center has not said.")
    beds_available: int | None = Field(description="Free beds the center reported, or null when not known.")
    last_verified_at: str | None = Field(description="When the center last confirmed its listing (ISO 8601), or null.")
    source: str
    source_date: str | None = Field(description="The day the source listed the center (YYYY-MM-DD), or null.")


class SearchResponse(BaseModel):
    origin: Origin
    radius_miles: float
    total: int = Field(description="Every matching center within the radius.")
    page: int
    per_page: int
    sort: str = Field(description="The order of the results: distance or confirmed_first.")
    results: list[CenterSummary]


class CenterDetail(BaseModel):
    id: int
    slug: str
    external_id: str
    name: str
    alt_name: str | None
    street1: str | None
    street2: str | None
    city: str
    state: str
    zip: str
    phone: str | None
    intake_phone: str | None
    website: str | None
    latitude: float
    longitude: float
    levels_of_care: list[str]
    detox_substances: list[str] = Field(description="What the center offers detox for (detox_substances codes).")
    payment_options: list[str]
    medications: list[str]
    populations: list[str]
    languages: list[str]
    accepting_referrals: bool | None = Field(description="null when the center has not said.")
    beds_available: int | None
    detox_stay_days: int | None
    source: str
    source_vintage: int | None
    source_date: str | None = Field(description="The day the source listed the center (YYYY-MM-DD), or null.")
    last_verified_at: str | None
    verified: bool = Field(description="Confirmed by the center within the last 180 days.")
    updated_at: str


_CODES = "Vocabulary codes (see the search parameter of the same kind); the whole list is replaced."


class CenterEdit(BaseModel):
    """The editable fields of a listing; send only those to change. Values are checked with the
    same rules as imports, and a changed city, state or ZIP must agree (the ZIP in the state, the
    city one of its towns). A changed state or ZIP moves the center to its ZIP code's point, unless
    latitude and longitude are sent (together); a new street or city keeps the point."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"minProperties": 1})

    name: str | None = Field(None, max_length=200, description="Required; cannot be emptied.")
    alt_name: str | None = Field(None, max_length=200, description='null or "" to remove.')
    phone: str | None = Field(None, description="A 10-digit US number, e.g. (312) 555-0100 or 312-555-0100 x12.")
    intake_phone: str | None = None
    website: str | None = Field(None, description="Starting with http:// or https://.")
    street1: str | None = Field(None, max_length=200)
    street2: str | None = Field(None, max_length=200, description="Suite or floor; changing it keeps the map point.")
    city: str | None = Field(None, max_length=100, description="Required; cannot be emptied.")
    state: str | None = Field(None, description="Two-letter US state or territory code, e.g. IL.")
    zip: str | None = Field(None, description="5 digits (ZIP+4 is cut to 5).")
    latitude: float | None = Field(None, ge=-90, le=90, description="Send with longitude to set the map point.")
    longitude: float | None = Field(None, ge=-180, le=180, description="Send with latitude to set the map point.")
    levels_of_care: list[str] | None = Field(None, description=_CODES)
    detox_substances: list[str] | None = Field(None, description=_CODES)
    payment_options: list[str] | None = Field(None, description=_CODES)
    medications: list[str] | None = Field(None, description=_CODES)
    populations: list[str] | None = Field(None, description=_CODES)
    languages: list[str] | None = Field(None, description=_CODES)
    detox_stay_days: int | None = Field(None, ge=1, le=365, description="Typical detox stay; null if not known.")


class CapacityUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    accepting_referrals: bool
    beds_available: int | None = Field(None, ge=0, le=MAX_BEDS, description="null when not known.")


class HistoryEvent(BaseModel):
    at: str = Field(description="When (ISO 8601, UTC).")
    actor_email: str | None = Field(description="Who; null for imports and the command line.")
    action: str = Field(description="center.edit, center.capacity or center.confirm.")
    field: str | None
    old_value: str | None = Field(description="Multi-valued fields as codes joined with ';'.")
    new_value: str | None
    detail: str | None


class CenterHistory(BaseModel):
    center_id: int
    events: list[HistoryEvent] = Field(description="Newest first.")


class Error(BaseModel):
    error: str = Field(description="What was wrong, in words a person can act on.")
    fields: dict[str, list[str]] = Field(default_factory=dict, description="Messages by parameter name.")


def _timestamp(moment: datetime | None) -> str | None:
    return format_timestamp(moment) or None


def _day(day: date | None) -> str | None:
    return day.isoformat() if day else None


def center_summary(center: Center | CenterListing, distance_miles: float) -> dict[str, Any]:
    """A search result as plain data, in the shape of `CenterSummary`."""
    return {
        "id": center.id,
        "slug": center.slug,
        "name": center.name,
        "street1": center.street1,
        "street2": center.street2,
        "city": center.city,
        "state": center.state,
        "zip": center.zip,
        "phone": center.phone,
        "intake_phone": center.intake_phone,
        "website": center.website,
        "latitude": center.latitude,
        "longitude": center.longitude,
        "distance_miles": round(distance_miles, 1),
        "levels_of_care": center.levels_of_care,
        "detox_substances": center.detox_substances,
        "payment_options": center.payment_options,
        "medications": center.medications,
        "populations": center.populations,
        "languages": center.languages,
        "accepting_referrals": center.accepting_referrals,
        "beds_available": center.beds_available,
        "last_verified_at": _timestamp(center.last_verified_at),
        "source": center.source,
        "source_date": _day(center.source_date),
    }


def search_response(result: SearchResult) -> dict[str, Any]:
    """A page of search results as plain data, in the shape of `SearchResponse` (a test holds
    them to it). Plain data, not models: building and validating 20 `CenterSummary` models
    and encoding them with `json` cost more CPU than a cached search itself."""
    return _search_response(result, [center_summary(hit.center, hit.distance_miles) for hit in result.hits])


def _search_response(result: SearchResult, results: list[Any]) -> dict[str, Any]:
    query = result.query
    return {
        "origin": {"label": query.origin.label, "latitude": query.origin.latitude, "longitude": query.origin.longitude},
        "radius_miles": query.radius_miles,
        "total": result.total,
        "page": query.page,
        "per_page": query.per_page,
        "sort": query.sort,
        "results": results,
    }


def search_response_json(result: SearchResult) -> bytes:
    """`search_response` encoded as JSON (UTF-8), by pydantic's encoder (compiled: a fraction of
    `json`'s time)."""
    return to_json(search_response(result))


def center_detail(center: Center, now: datetime) -> CenterDetail:
    return CenterDetail(
        id=center.id,
        slug=center.slug,
        external_id=center.external_id,
        name=center.name,
        alt_name=center.alt_name,
        street1=center.street1,
        street2=center.street2,
        city=center.city,
        state=center.state,
        zip=center.zip,
        phone=center.phone,
        intake_phone=center.intake_phone,
        website=center.website,
        latitude=center.latitude,
        longitude=center.longitude,
        levels_of_care=center.levels_of_care,
        detox_substances=center.detox_substances,
        payment_options=center.payment_options,
        medications=center.medications,
        populations=center.populations,
        languages=center.languages,
        accepting_referrals=center.accepting_referrals,
        beds_available=center.beds_available,
        detox_stay_days=center.detox_stay_days,
        source=center.source,
        source_vintage=center.source_vintage,
        source_date=_day(center.source_date),
        last_verified_at=_timestamp(center.last_verified_at),
        verified=center.is_verified(now),
        updated_at=format_timestamp(center.updated_at),
    )


def center_history(center_id: int, entries: list[HistoryEntry]) -> CenterHistory:
    return CenterHistory(
        center_id=center_id,
        events=[
            HistoryEvent(
                at=format_timestamp(entry.event.at),
                actor_email=entry.actor_email,
                action=entry.event.action,
                field=entry.event.field,
                old_value=entry.event.old_value,
                new_value=entry.event.new_value,
                detail=entry.event.detail,
            )
            for entry in entries
        ],
    )


# Referrals ---------------------------------------------------------------------------------


class Consent(BaseModel):
    """The person's consent to share the referral with receiving centers (42 CFR Part 2 style)."""

    granted: bool = Field(description="Must be true.")
    recipients: str = Field(description="Who may receive the referral.")
    purpose: str = Field(description="For what purpose it may be shared.")
    expires_on: str = Field(description="The date the consent ends, YYYY-MM-DD; not in the past, at most a year ahead.")


class ReferralIntake(BaseModel):
    """Only what routing needs: no name, no date of birth. Every problem is reported at once in `fields`."""

    model_config = ConfigDict(extra="forbid")

    client_reference: str = Field(max_length=64, description="Your own reference for the person (not their name).")
    contact_phone: str | None = Field(None, description="A 10-digit US number, if the center may call.")
    location: str = Field(description="Where the person is: a ZIP code or 'City, ST'.")
    max_distance_miles: float = Field(50, ge=1, le=500)
    payment: str = Field(description="A payment_options code, e.g. medicaid.")
    use_disorders: list[str] | None = Field(
        None,
        description="What the referral is for: alcohol, opioids, or both. Without it, an intake naming a "
        "`primary_opioid` is for opioids (and alcohol too if `alcohol_use_disorder` is true), and one with "
        "`alcohol_use_disorder` true and no primary opioid is for alcohol.",
        json_schema_extra={"items": {"type": "string", "enum": list(USE_DISORDERS)}, "minItems": 1},
    )
    primary_opioid: str | None = Field(
        None,
        description="Required when the referral is for opioids. For alcohol alone, optional: the opioid used in "
        "the last 10 days, if `recent_opioid_use` is yes or unknown (its window applies; not known: 10 days).",
        json_schema_extra={"enum": [*PRIMARY_OPIOIDS, None]},
    )
    last_opioid_use: str | None = Field(
        None,
        description="Required when the referral is for opioids. ISO 8601 date and time with its offset, e.g. "
        "2026-03-01T14:30:00Z or 2026-03-01T09:30:00-05:00; not in the future, not a date alone. Without an offset "
        "it is read in "
        "`time_zone`. For alcohol alone, optional: when `recent_opioid_use` is yes or unknown, the opioid-free "
        "window counts from it; without it the plan is flagged confirm_opioid_free_before_naltrexone.",
    )
    recent_opioid_use: str | None = Field(
        None,
        description="Any opioid use in the last 10 days? Required when the referral is for alcohol alone "
        "(naltrexone needs the person opioid-free); yes or unknown applies the opioid window.",
        json_schema_extra={"enum": [*RECENT_OPIOID_USE_ANSWERS, None]},
    )
    time_zone: str = Field(
        "UTC",
        description="The referrer's IANA time zone, e.g. America/New_York: a `last_opioid_use` without an offset is "
        "read in it, and the day naltrexone may start is a day there. A time the clocks skipped is refused; one "
        "they showed twice is the later.",
    )
    liver_disease: str = Field(json_schema_extra={"enum": list(LIVER_DISEASE_ANSWERS)})
    on_opioid_pain_therapy: bool
    interacting_medications: list[str] = Field(
        default_factory=list, json_schema_extra={"items": {"type": "string", "enum": list(INTERACTING_MEDICATIONS)}}
    )
    alcohol_use_disorder: bool | None = Field(
        None, description="Whether the referral is for alcohol too; with `use_disorders`, it must agree or be left out."
    )
    language: str | None = Field(None, description="A languages code, if not English.")
    populations: list[str] = Field(default_factory=list, description="populations codes.")
    consent: Consent
    allow_duplicate: bool = Field(
        False,
        description="Send it although the caller has a referral in progress with the same `client_reference` "
        "(another person, or a new episode of care); otherwise that is a 409 and nothing is saved.",
    )


class ReferralAccepted(BaseModel):
    id: str
    status: str = Field(
        description="received with a broker (routing happens in a worker); in embedded mode routing has "
        "already run: offered, unplaced or needs_review."
    )


class PlanStep(BaseModel):
    center_id: int
    center_name: str
    distance_miles: float
    phone: str | None = Field(description="The center's intake or main phone.")
    offer_status: str = Field(description="planned (not offered yet), or the offer's status.")
    why: list[str]
    earliest_start: str | None = Field(None, description="Naltrexone program only: the earliest safe start.")
    target_start: str | None = Field(None, description="Naltrexone program only: after the detox stay.")


class PartialMatch(BaseModel):
    center_id: int
    center_name: str
    distance_miles: float
    phone: str | None
    missing: list[str] = Field(description="Why the center does not fit.")


class Plan(BaseModel):
    detox: PlanStep | None
    naltrexone_program: PlanStep | None
    flags: list[str] = Field(description="Clinical flags for the receiving clinicians, e.g. interaction:alcohol.")
    earliest_naltrexone_start: str | None
    partial_matches: list[PartialMatch] = Field(description="When unplaced: the nearest near-misses.")
    disclaimer: str | None


class OfferView(BaseModel):
    id: int
    referral_id: str
    step: str = Field(description="detox or naltrexone.")
    center_id: int
    center_name: str
    status: str = Field(description="offered, accepted, declined, expired, withdrawn, admitted, no_show, completed.")
    fhir_status: str | None = Field(description="The FHIR Task status.")
    distance_miles: float
    why: list[str]
    offered_at: str | None
    expires_at: str | None
    responded_at: str | None
    admission_date: str | None
    target_start: str | None
    decline_reason: str | None


class TimelineView(BaseModel):
    at: str | None
    status: str = Field(description="referral:<status> or offer:<step>:<status>.")
    by: str = Field(description="Who: a user's email, or router.")
    reason: str | None


class ReferralDetail(BaseModel):
    """The referral as its referral staff and administrators see it."""

    id: str
    status: str
    fhir_status: str | None
    status_reason: str | None
    client_reference: str
    use_disorders: list[str] = Field(description="What the referral is for: alcohol, opioids, or both.")
    created_at: str | None
    plan: Plan
    offers: list[OfferView]
    timeline: list[TimelineView]


class OfferForCenter(BaseModel):
    """An offer as its center's staff see it (minimum necessary; the README lists every field and when).

    A closed offer (declined, expired, withdrawn, no-show, completed), or any offer once the person's
    consent has lapsed, has only its id, step, status, center and dates. The contact phone and client
    reference appear once the center has accepted.
    """

    model_config = ConfigDict(extra="forbid")

    id: int
    step: str = Field(description="detox or naltrexone.")
    status: str = Field(
        description="offered, accepted, declined, expired (also an open offer past expires_at), withdrawn, "
        "admitted, no_show, completed."
    )
    center_id: int = Field(description="Your center the offer was made to.")
    center_name: str
    offered_at: str | None
    expires_at: str | None
    responded_at: str | None
    referral_id: str | None = Field(None, description="While the referral is shared with your center.")
    use_disorders: list[str] | None = Field(None, description="What the referral is for: alcohol, opioids, or both.")
    distance_miles: float | None = Field(None, description="From the person's area to your center.")
    why: list[str] | None = Field(None, description="Why your center was chosen.")
    earliest_naltrexone_start: str | None = Field(None, description="YYYY-MM-DD: the earliest safe start.")
    target_start: str | None = Field(None, description="Naltrexone step: YYYY-MM-DD, after the detox stay.")
    flags: list[str] | None = Field(None, description="Clinical flags for the receiving clinicians.")
    payment: str | None = Field(None, description="A payment_options code.")
    language: str | None = Field(None, description="A languages code, if not English.")
    populations: list[str] | None = Field(None, description="populations codes.")
    admission_date: str | None = Field(None, description="YYYY-MM-DD, once accepted.")
    disclaimer: str | None = None
    client_reference: str | None = Field(None, description="Once accepted: the referrer's case number.")
    contact_phone: str | None = Field(None, description="Once accepted: how to reach the person.")


class ReferralForCenter(BaseModel):
    """The referral as staff of an offered center see it: their offers that share it now (minimum necessary)."""

    # Closed, so the full view (with client_reference...) never also matches this one: `oneOf` tells them apart.
    model_config = ConfigDict(extra="forbid")

    id: str
    offers: list[OfferForCenter] = Field(description="Only the caller's centers' offers that share the referral now.")


class ReferralSummary(BaseModel):
    id: str
    status: str
    status_reason: str | None
    client_reference: str
    created_at: str | None
    updated_at: str | None


#: The last page a list may be asked for (`?page=`).
MAX_PAGE = 1_000_000


class ReferralList(BaseModel):
    total: int
    page: int
    per_page: int
    results: list[ReferralSummary] = Field(description="Newest first.")


class ReferralCancel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field("", description="Why; shown on the timeline.")


class ReferralState(BaseModel):
    id: str
    status: str
    status_reason: str | None


class OfferList(BaseModel):
    results: list[OfferForCenter] = Field(description="Open offers, and those of the last 30 days; newest first.")


class OfferAccept(BaseModel):
    model_config = ConfigDict(extra="forbid")

    admission_date: str = Field(description="YYYY-MM-DD: when the person can be admitted.")


class OfferDecline(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, description="Why (it helps the referral staff find another place).")
