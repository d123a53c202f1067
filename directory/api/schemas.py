"""The shapes of API responses; the OpenAPI document is generated from these models."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from directory.centers_editing import MAX_BEDS, HistoryEntry
from directory.models import Center
from directory.search.engine import SearchResult
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
    city: str
    state: str
    zip: str
    phone: str | None
    website: str | None
    latitude: float
    longitude: float
    distance_miles: float = Field(description="WGS-84 geodesic distance from the origin, to 0.1 mile.")
    levels_of_care: list[str]
    payment_options: list[str]
    medications: list[str]
    populations: list[str]
    languages: list[str]
    accepting_referrals: bool
    last_verified_at: str | None = Field(description="When the center last confirmed its listing (ISO 8601), or null.")
    source: str


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
    payment_options: list[str]
    medications: list[str]
    populations: list[str]
    languages: list[str]
    accepting_referrals: bool
    beds_available: int | None
    detox_stay_days: int | None
    source: str
    source_vintage: int | None
    last_verified_at: str | None
    verified: bool = Field(description="Confirmed by the center within the last 180 days.")
    updated_at: str


_CODES = "Vocabulary codes (see the search parameter of the same kind); the whole list is replaced."


class CenterEdit(BaseModel):
    """The editable fields of a listing; send only those to change. Values are checked with the
    same rules as imports. A changed street, city, state or ZIP moves the center to its ZIP
    code's point, unless latitude and longitude are sent (together)."""

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


def center_summary(center: Center, distance_miles: float) -> CenterSummary:
    return CenterSummary(
        id=center.id,
        slug=center.slug,
        name=center.name,
        street1=center.street1,
        city=center.city,
        state=center.state,
        zip=center.zip,
        phone=center.phone,
        website=center.website,
        latitude=center.latitude,
        longitude=center.longitude,
        distance_miles=round(distance_miles, 1),
        levels_of_care=center.levels_of_care,
        payment_options=center.payment_options,
        medications=center.medications,
        populations=center.populations,
        languages=center.languages,
        accepting_referrals=center.accepting_referrals,
        last_verified_at=_timestamp(center.last_verified_at),
        source=center.source,
    )


def search_response(result: SearchResult) -> SearchResponse:
    query = result.query
    return SearchResponse(
        origin=Origin(label=query.origin.label, latitude=query.origin.latitude, longitude=query.origin.longitude),
        radius_miles=query.radius_miles,
        total=result.total,
        page=query.page,
        per_page=query.per_page,
        sort=query.sort,
        results=[center_summary(hit.center, hit.distance_miles) for hit in result.hits],
    )


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
        payment_options=center.payment_options,
        medications=center.medications,
        populations=center.populations,
        languages=center.languages,
        accepting_referrals=center.accepting_referrals,
        beds_available=center.beds_available,
        detox_stay_days=center.detox_stay_days,
        source=center.source,
        source_vintage=center.source_vintage,
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
