"""The directory in Open Referral's Human Services Data Specification (HSDS) 3.0: each listing as
an organization providing one service at one location, and the vocabulary as one taxonomy.

Ids are UUIDs that never change. Those the API looks up (service, organization, location,
service_at_location) hold the listing's id in their last 62 bits under a fixed prefix for each
kind (UUID version 8, "custom"), so an id leads back to its listing without a table of ids; the
others are version 5 UUIDs of a fixed namespace and what they stand for (e.g. a vocabulary code).
"""

from __future__ import annotations

import functools
import json
import uuid
from collections.abc import Iterable
from datetime import date
from typing import Any, TextIO

from directory.models import Center
from directory.sources.provenance import source_name, superseded_note
from directory.sources.records import format_timestamp
from directory.vocabulary import ATTRIBUTE_VOCABULARIES, label

HSDS_VERSION = "3.0"
#: The directory publishes HSDS's base schema, with no profile of its own.
PROFILE = "https://github.com/openreferral/specification/tree/3.0/schema"
NAMESPACE = uuid.UUID("462ac395-3918-43a0-b66f-d49b8c9672ee")

#: The HSDS objects the API finds by id: one of each per listing.
LISTING_KINDS = ("service", "organization", "location", "service_at_location")
_LOW_BITS = (1 << 62) - 1
_VARIANT = 0b10 << 62


def _prefix(kind: str) -> int:
    """The high 64 bits of the ids of one kind: a hash of the kind, with the version set to 8."""
    high = uuid.uuid5(NAMESPACE, kind).int >> 64
    return (high & ~0xF000) | 0x8000


_PREFIXES = {kind: _prefix(kind) for kind in LISTING_KINDS}


def listing_uuid(kind: str, center_id: int) -> str:
    """The id of a listing's service, organization, location or service_at_location."""
    return str(uuid.UUID(int=(_PREFIXES[kind] << 64) | _VARIANT | center_id))


def center_id_of(kind: str, value: str) -> int | None:
    """The listing id held by an id of this kind, or None if `value` is no such id."""
    try:
        number = uuid.UUID(value).int
    except ValueError:
        return None
    if number >> 64 != _PREFIXES[kind] or number & (0b11 << 62) != _VARIANT:
        return None
    return number & _LOW_BITS


def named_uuid(*parts: object) -> str:
    """A version 5 UUID of the directory's namespace and these parts, e.g. ("taxonomy_term", "medications")."""
    return str(uuid.uuid5(NAMESPACE, "/".join(map(str, parts))))


TAXONOMY_ID = named_uuid("taxonomy")
#: The parent terms of the taxonomy: one per attribute of a listing.
KIND_NAMES = {
    "levels_of_care": "Levels of care",
    "detox_substances": "Detox for substances",
    "payment_options": "Payment accepted",
    "medications": "Medications for addiction treatment",
    "populations": "Groups served",
    "languages": "Languages",
}
#: Language codes that name groups of languages, not one language: attributes only.
LANGUAGE_GROUPS = frozenset({"other_languages", "native_american_languages"})


def taxonomy() -> dict[str, Any]:
    """The directory's vocabulary as an HSDS taxonomy."""
    return {
        "id": TAXONOMY_ID,
        "name": "Treatment directory vocabulary",
        "description": "The codes the directory describes treatment centers with: levels of care, payment "
        "accepted, medications, groups served and languages.",
        "version": "1",
    }


@functools.cache  # a few hundred terms, asked for dozens of times per service
def term_id(kind: str, code: str | None = None) -> str:
    """The id of a vocabulary code's taxonomy term, or with no code of its kind's parent term."""
    return named_uuid("taxonomy_term", kind) if code is None else named_uuid("taxonomy_term", kind, code)


def taxonomy_term(kind: str, code: str | None = None) -> dict[str, Any]:
    """A vocabulary code (or with no code, an attribute kind) as an HSDS taxonomy term."""
    term = {"id": term_id(kind, code), "taxonomy": "Treatment directory vocabulary", "taxonomy_id": TAXONOMY_ID}
    if code is None:
        return {**term, "code": kind, "name": KIND_NAMES[kind], "description": KIND_NAMES[kind]}
    name = label(kind, code)
    return {**term, "code": code, "name": name, "description": name, "parent_id": term_id(kind)}


#: Every taxonomy term, in order of id, and what each stands for: (kind, code or None).
TERMS: dict[str, tuple[str, str | None]] = dict(
    sorted(
        [(term_id(kind), (kind, None)) for kind in ATTRIBUTE_VOCABULARIES]
        + [(term_id(kind, code), (kind, code)) for kind, codes in ATTRIBUTE_VOCABULARIES.items() for code in codes]
    )
)


def _present(values: dict[str, Any]) -> dict[str, Any]:
    """Without the fields that have no value (HSDS leaves them out rather than null)."""
    return {name: value for name, value in values.items() if value not in (None, "", [])}


def _labels(center: Center, kind: str) -> str:
    return "; ".join(label(kind, code) for code in center.codes(kind))


def organization(center: Center, *, full: bool = False) -> dict[str, Any]:
    """The organization of a listing (named as the center; the directory knows no other), with
    one-to-one fields only unless `full`."""
    fields = {
        "id": listing_uuid("organization", center.id),
        "name": center.name,
        "alternate_name": center.alt_name,
        "description": f"{center.name}, a treatment center in {center.city}, {center.state}.",
        "website": center.website,
    }
    if full:
        fields["locations"] = [location(center, full=True)]
    return _present(fields)


def location(center: Center, *, full: bool = False) -> dict[str, Any]:
    """A listing's place (its map point, and with `full` its street address); the source's id of
    the listing is its external identifier."""
    location_id = listing_uuid("location", center.id)
    fields = {
        "id": location_id,
        "location_type": "physical",
        "organization_id": listing_uuid("organization", center.id),
        "name": center.name,
        "alternate_name": center.alt_name,
        "latitude": center.latitude,
        "longitude": center.longitude,
        "external_identifier": center.external_id,
        "external_identifier_type": source_name(center.source),
    }
    if full:
        fields["addresses"] = [
            {
                "id": named_uuid("address", center.id),
                "location_id": location_id,
                # HSDS requires a first line; a listing without a street has an empty one.
                "address_1": center.street1 or "",
                **_present({"address_2": center.street2}),
                "city": center.city,
                "state_province": center.state,
                "postal_code": center.zip,
                "country": "US",
                "address_type": "physical",
            }
        ]
    return _present(fields)


def _phone(center: Center, which: str, text: str) -> dict[str, Any]:
    number, _, extension = text.partition(" ext. ")
    return _present(
        {
            "id": named_uuid("phone", center.id, which),
            "service_id": listing_uuid("service", center.id),
            "number": number,
            "extension": int(extension) if extension.isdigit() else None,
            "type": "voice",
            "description": {"main": "Main number", "intake": "Intake"}[which],
        }
    )


def _status(center: Center) -> tuple[str, str | None]:
    """HSDS's status of a listing, and the alert that says why a superseded one is inactive."""
    if center.superseded_at is None:
        return "active", None
    if center.superseded_by and center.superseded_by_date:
        return "inactive", superseded_note(center.superseded_by, center.superseded_by_date)
    return "inactive", "No longer in its source's directory"


def service(center: Center, *, full: bool = False) -> dict[str, Any]:
    """A listing's treatment service: with one-to-one fields and its organization (the shape of
    HSDS's paged lists), or with `full` every related object nested."""
    service_id = listing_uuid("service", center.id)
    status, alert = _status(center)
    levels, medications = _labels(center, "levels_of_care"), _labels(center, "medications")
    payment = _labels(center, "payment_options")
    description = "; ".join(
        part for part in (levels and f"Levels of care: {levels}", medications and f"Medications: {medications}") if part
    )
    confirmed: date | None = center.last_verified_at.date() if center.last_verified_at else None
    fields = {
        "id": service_id,
        "organization_id": listing_uuid("organization", center.id),
        "name": center.name,
        "alternate_name": center.alt_name,
        "description": description or "Substance use treatment.",
        "url": center.website,
        "status": status,
        "alert": alert,
        "fees_description": payment and f"Payment accepted: {payment}",
        "assured_date": confirmed.isoformat() if confirmed else None,
        "last_modified": format_timestamp(center.updated_at),
        "organization": organization(center, full=full),
    }
    if full:
        fields |= {
            "phones": [
                _phone(center, which, text)
                for which, text in (("main", center.phone), ("intake", center.intake_phone))
                if text
            ],
            "languages": [
                _present(
                    {
                        "id": named_uuid("language", center.id, code),
                        "service_id": service_id,
                        "name": label("languages", code),
                        "code": code if len(code) <= 3 else None,
                    }
                )
                for code in center.codes("languages")
                if code not in LANGUAGE_GROUPS
            ],
            "service_at_locations": [service_at_location(center, full=True)],
            "attributes": [
                {
                    "id": named_uuid("attribute", center.id, kind, code),
                    "link_id": service_id,
                    "link_type": kind,
                    "link_entity": "service",
                    "taxonomy_term_id": term_id(kind, code),
                    "taxonomy_term": taxonomy_term(kind, code),
                }
                for kind in ATTRIBUTE_VOCABULARIES
                for code in center.codes(kind)
            ],
        }
    return _present(fields)


def minimal_service(center: Center) -> dict[str, str]:
    """A service's id and when it last changed (`?minimal=true`: what changed since a harvest),
    with the name and status every item of HSDS's list has."""
    return {
        "id": listing_uuid("service", center.id),
        "name": center.name,
        "status": _status(center)[0],
        "last_modified": format_timestamp(center.updated_at),
    }


def service_at_location(center: Center, *, full: bool = False) -> dict[str, Any]:
    """The listing's service at its place: with the one-to-one fields of both (HSDS's paged
    list), or with `full` the place's address (the service itself nests it when full)."""
    fields: dict[str, Any] = {
        "id": listing_uuid("service_at_location", center.id),
        "service_id": listing_uuid("service", center.id),
        "location_id": listing_uuid("location", center.id),
        "location": location(center, full=full),
    }
    if not full:
        fields["service"] = {name: value for name, value in service(center).items() if name != "organization"}
    return fields


def write_services(stream: TextIO, centers: Iterable[Center]) -> int:
    """Write each listing as a full HSDS service, one JSON object per line; returns how many."""
    count = 0
    for center in centers:
        stream.write(json.dumps(service(center, full=True), ensure_ascii=False, separators=(",", ":")) + "\n")
        count += 1
    return count
