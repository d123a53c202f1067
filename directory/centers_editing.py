"""Centers keeping their own listings true: claims, profile edits, capacity, confirmation, history.

Plain functions over a SQLAlchemy session, shared by the portal's pages and the API. Every
value is checked with the importers' `RowChecker`, so whatever a center saves can be exported
and imported again, and whatever an import accepts can be saved. Every change is audited, one
event per changed field, and marks the listing as the center's own (imports then leave it alone).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from directory.accounts import audit
from directory.models import AuditEvent, Center, ClaimStatus, ListingClaim, Role, User
from directory.models.centers import VERIFICATION_VALID_DAYS
from directory.search.geocoding import Geocoder, PlaceNotFound, miles_to_town, town_key, zip_towns
from directory.sources.records import MULTI_VALUED, RowChecker, format_timestamp
from directory.translatable import N_, Message
from directory.vocabulary import STATES

#: What each editable field is called on the portal's form and in messages (marked for the catalogue:
#: the portal shows them in the person's language).
FIELD_LABELS: dict[str, str] = {
    "name": N_("Name"),
    "alt_name": N_("Other name"),
    "phone": N_("Phone"),
    "intake_phone": N_("Intake phone"),
    "website": N_("Website"),
    "street1": N_("Street address"),
    "street2": N_("Suite, floor or building"),
    "city": N_("City"),
    "state": N_("State"),
    "zip": N_("ZIP code"),
    "latitude": N_("Latitude"),
    "longitude": N_("Longitude"),
    "levels_of_care": N_("Levels of care"),
    "detox_substances": N_("Detox for"),
    "payment_options": N_("Payment accepted"),
    "medications": N_("Medications"),
    "populations": N_("Serves"),
    "languages": N_("Languages and communication"),
    "detox_stay_days": N_("Typical detox stay (days)"),
    "accepting_referrals": N_("Accepting referrals"),
    "beds_available": N_("Beds available"),
    "last_verified_at": N_("Confirmed by the center"),
}

#: The profile fields a center edits (capacity and confirmation have their own actions).
EDITABLE_FIELDS = (
    "name", "alt_name", "phone", "intake_phone", "website",
    "street1", "street2", "city", "state", "zip", "latitude", "longitude",
    *MULTI_VALUED, "detox_stay_days",
)  # fmt: skip

#: Address fields whose change moves the center's point on the map (to the new ZIP code's point,
#: unless coordinates are given). The geocoder places a listing by its ZIP code alone, so a new
#: street or city within the same ZIP code keeps the point, which is closer to the building.
LOCATING_FIELDS = ("state", "zip")

#: The fields that must agree with each other: the ZIP code's state, and one of its towns.
ADDRESS_FIELDS = ("city", "state", "zip")

#: A city that is not one of its ZIP code's names is accepted if a ZIP code of that town lies this
#: close (a center naming its own town, its mail going through the next town's post office). In the
#: seed directory, the farthest such listing is 6 miles from its ZIP code.
NEIGHBOURING_TOWN_MILES = 10.0

CAPACITY_FIELDS = ("accepting_referrals", "beds_available")
MAX_BEDS = 10000

#: Where a message about a field goes when the whole request is at fault.
REQUEST = "(request)"


class ListingError(ValueError):
    """A request about a listing that cannot be done; `fields` holds messages by field name."""

    def __init__(self, message: str, fields: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fields: dict[str, list[str]] = dict(fields or {})


def _label(name: str) -> str:
    return FIELD_LABELS.get(name, name)


def _messages(check: RowChecker) -> dict[str, list[str]]:
    """The checker's issues as one message per field, in words that stand on their own (marked:
    the portal's forms show them translated)."""
    fields: dict[str, list[str]] = {}
    for issue in check.issues:
        shown = issue.value if len(issue.value) <= 60 else issue.value[:57] + "..."
        problem = issue.message if isinstance(issue.message, Message) else Message(issue.message)
        message = (
            Message(N_("“%(value)s” %(problem)s."), value=shown, problem=problem)
            if shown
            else Message(N_("%(field)s %(problem)s."), field=Message(_label(issue.column)), problem=problem)
        )
        fields.setdefault(issue.column, []).append(message)
    return fields


def _invalid(fields: dict[str, list[str]]) -> ListingError:
    summary = " ".join(f"{_label(name)}: {messages[0]}" for name, messages in fields.items())
    return ListingError(f"Please check these fields. {summary}", fields)


def _as_text(check: RowChecker, name: str, value: object) -> str | None:
    """A submitted value as the text an import row would hold; None (with an issue) if it cannot be."""
    if value is None:
        return ""
    if name in MULTI_VALUED:
        if isinstance(value, list | tuple) and all(isinstance(code, str) for code in value):
            return ";".join(value)
        check.fail(name, value, N_("must be a list of codes"))
        return None
    if isinstance(value, list | tuple):
        check.fail(name, value, N_("must be a single value"))
        return None
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        return str(value)
    check.fail(name, value, N_("must be text or a number"))
    return None


def _check_field(check: RowChecker, name: str, raw: str) -> Any:
    """One field, checked exactly as the project's CSV import checks its column."""
    if name == "name":
        return check.text(name, raw, required=True)
    if name in ("alt_name", "street1", "street2"):
        return check.text(name, raw)
    if name == "city":
        return check.text(name, raw, required=True, max_len=100)
    if name == "state":
        return check.state(name, raw)
    if name == "zip":
        return check.zip_code(name, raw)
    if name in ("phone", "intake_phone"):
        return check.phone(name, raw)
    if name == "website":
        return check.website(name, raw)
    if name == "latitude":
        return check.coordinate(name, raw, 90)
    if name == "longitude":
        return check.coordinate(name, raw, 180)
    if name == "detox_stay_days":
        return check.integer(name, raw, low=1, high=365)
    if name in MULTI_VALUED:
        return check.codes(name, raw, name)
    if name == "beds_available":
        return check.integer(name, raw, low=0, high=MAX_BEDS)
    raise KeyError(name)


def check_center_edit(submitted: Mapping[str, object]) -> dict[str, Any]:
    """Validate the submitted fields of a profile edit (any subset of EDITABLE_FIELDS).

    Values may be text (a form) or JSON values (the API). Latitude and longitude go together;
    blank or null means "not given". Raises ListingError with every problem, by field.
    """
    unknown = [name for name in submitted if name not in EDITABLE_FIELDS]
    if unknown:
        fields = {name: [_unknown_field_message(name)] for name in unknown}
        raise ListingError(f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.", fields)
    check = RowChecker("edit", 0)
    values: dict[str, Any] = {}
    for name, value in submitted.items():
        raw = _as_text(check, name, value)
        if raw is None:
            continue
        if name in ("latitude", "longitude") and not raw.strip():
            continue
        checked = _check_field(check, name, raw)
        if not any(issue.column == name for issue in check.issues):
            values[name] = checked
    given = {"latitude", "longitude"} & {n for n, v in submitted.items() if v is not None and str(v).strip()}
    if len(given) == 1:
        missing = ({"latitude", "longitude"} - given).pop()
        check.fail(missing, "", N_("is needed too: give latitude and longitude together, or neither"))
    if check.issues:
        raise _invalid(_messages(check))
    return values


def _unknown_field_message(name: str) -> str:
    if name in CAPACITY_FIELDS:
        return "Capacity is updated on its own: PUT /api/v1/centers/{center_id}/capacity."
    if name == "last_verified_at":
        return "Confirm a listing with POST /api/v1/centers/{center_id}/confirm."
    return f"Not an editable field; editable: {', '.join(EDITABLE_FIELDS)}."


@dataclass
class CenterEdit:
    """What an edit changed: {field: (old, new)}, and how the map point was decided."""

    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    #: "unchanged", "explicit" (coordinates given) or "geocoded" (placed at the new ZIP code's point).
    location: str = "unchanged"
    place_label: str | None = None

    @property
    def kept_point(self) -> bool:
        """The street or city changed within the same ZIP code, and the map point stayed."""
        return self.location == "unchanged" and any(name in self.changes for name in ("street1", "city"))


def _current(center: Center, name: str) -> Any:
    return center.codes(name) if name in MULTI_VALUED else getattr(center, name)


def apply_center_edit(
    session: Session, center: Center, values: Mapping[str, Any], *, actor: User | None, now: datetime,
    geocoder: Geocoder,
) -> CenterEdit:  # fmt: skip
    """Save checked values (from `check_center_edit`): only changed fields, each audited.

    A changed city, state or ZIP code must agree with the others (`address_problems`). A changed
    state or ZIP code places the center at its ZIP code's point, unless latitude and longitude are
    given; any other change keeps the point. Raises ListingError, changing nothing, if the address
    does not agree or its ZIP code cannot be located.
    """
    wanted = dict(values)
    problems = address_problems(center, wanted)
    if problems:
        raise _invalid(problems)
    edit = CenterEdit()
    moved = any(name in wanted and wanted[name] != getattr(center, name) for name in LOCATING_FIELDS)
    if "latitude" in wanted:
        edit.location = "explicit"
    elif moved:
        zip_code = wanted.get("zip", center.zip)
        try:
            place = geocoder.locate(zip_code)
        except PlaceNotFound as error:
            message = Message(
                N_("%(problem)s Enter the center's latitude and longitude to place it yourself."), problem=error.message
            )
            raise ListingError(message, {"zip": [message]}) from error
        wanted["latitude"], wanted["longitude"] = place.latitude, place.longitude
        edit.location, edit.place_label = "geocoded", place.label
    for name, value in wanted.items():
        old = _current(center, name)
        if old == value:
            continue
        edit.changes[name] = (old, value)
        if name in MULTI_VALUED:
            center.set_codes(name, value)
        else:
            setattr(center, name, value)
    if edit.location == "explicit" and not ({"latitude", "longitude"} & set(edit.changes)):
        edit.location = "unchanged"
    if edit.changes:
        _mark_edited(session, center, actor, now, "center.edit", edit.changes)
    return edit


def address_problems(center: Center, values: Mapping[str, Any]) -> dict[str, list[str]]:
    """Messages, by field, if a changed city, state or ZIP code does not agree with the others.

    The ZIP code must be in the state, and the city one of the ZIP code's towns: a name the Postal
    Service accepts for it or uses locally, or a town with a ZIP code within NEIGHBOURING_TOWN_MILES.
    A ZIP code the offline tables do not know is not checked (a new one; locating it asks for
    coordinates). A listing whose address is left as it is is never checked.
    """
    changed = [name for name in ADDRESS_FIELDS if name in values and values[name] != getattr(center, name)]
    if not changed:
        return {}
    city, state, zip_code = (values.get(name, getattr(center, name)) for name in ADDRESS_FIELDS)
    towns = zip_towns(zip_code)
    if towns is None:
        return {}
    if towns.state != state:
        message = Message(
            N_(
                "ZIP code %(zip)s is in %(place)s, not in %(state)s. Enter the ZIP code of the center's "
                "address, or the state it is in."
            ),
            zip=zip_code,
            place=f"{towns.names[0]}, {towns.state}",
            state=STATES.get(state, state),
        )
        return {"zip" if "zip" in changed else "state": [message]}
    if town_key(city) in {town_key(name) for name in (*towns.names, *towns.local_names)}:
        return {}
    miles = miles_to_town(zip_code, city, state)
    if miles is not None and miles <= NEIGHBOURING_TOWN_MILES:
        return {}
    town, *accepted = towns.names
    others: dict[str, str] = {}  # the other accepted names, one spelling of each
    for name in accepted:
        if town_key(name) != town_key(town):
            others.setdefault(town_key(name), name)
    if others:
        template = N_(
            "ZIP code %(zip)s is in %(town)s, %(state)s, not in %(city)s. Enter %(town)s as the city (or "
            "another name the Postal Service accepts for it: %(others)s), or the ZIP code of the address in %(city)s."
        )
    else:
        template = N_(
            "ZIP code %(zip)s is in %(town)s, %(state)s, not in %(city)s. Enter %(town)s as the city, "
            "or the ZIP code of the address in %(city)s."
        )
    message = Message(template, zip=zip_code, town=town, state=state, city=city, others=", ".join(others.values()))
    return {"city" if "city" in changed else "zip": [message]}


def _mark_edited(
    session: Session, center: Center, actor: User | None, now: datetime, action: str,
    changes: Mapping[str, tuple[Any, Any]],
) -> None:  # fmt: skip
    """Stamp a center-made change (so imports keep it) and audit it field by field."""
    center.center_edited_at = now
    center.updated_at = now
    audit.record(session, actor, action, "center", center.id, changes=changes)


def check_capacity(accepting_referrals: object, beds_available: object) -> tuple[bool, int | None]:
    """Validate a capacity update: yes or no, and a bed count (blank or null for unknown)."""
    check = RowChecker("capacity", 0)
    accepting = False
    if accepting_referrals is None or (isinstance(accepting_referrals, str) and not accepting_referrals.strip()):
        check.fail("accepting_referrals", "", N_("is required: yes or no"))
    elif isinstance(accepting_referrals, bool):
        accepting = accepting_referrals
    elif isinstance(accepting_referrals, str):
        accepting = check.boolean("accepting_referrals", accepting_referrals, default=False)
    else:
        check.fail("accepting_referrals", accepting_referrals, N_("must be true or false"))
    beds = None
    raw = _as_text(check, "beds_available", beds_available)
    if raw is not None:
        beds = _check_field(check, "beds_available", raw)
    if check.issues:
        raise _invalid(_messages(check))
    return accepting, beds


def update_capacity(
    session: Session, center: Center, accepting_referrals: bool, beds_available: int | None, *,
    actor: User | None, now: datetime,
) -> dict[str, tuple[Any, Any]]:  # fmt: skip
    """Set whether the center takes referrals and how many beds are free; returns the changes."""
    changes: dict[str, tuple[Any, Any]] = {}
    for name, value in (("accepting_referrals", accepting_referrals), ("beds_available", beds_available)):
        old = getattr(center, name)
        if old != value:
            changes[name] = (old, value)
            setattr(center, name, value)
    if changes:
        _mark_edited(session, center, actor, now, "center.capacity", changes)
    return changes


def confirm_listing(session: Session, center: Center, *, actor: User | None, now: datetime) -> None:
    """The center says its listing is accurate today; it shows as confirmed for 180 days."""
    old = center.last_verified_at
    center.last_verified_at = now
    changes = {"last_verified_at": (format_timestamp(old) or None, format_timestamp(now))}
    _mark_edited(session, center, actor, now, "center.confirm", changes)


def confirmation_lapses_at(center: Center) -> datetime | None:
    """When the center's last confirmation stops counting (None if it never confirmed)."""
    if center.last_verified_at is None:
        return None
    return center.last_verified_at + timedelta(days=VERIFICATION_VALID_DAYS)


@dataclass(frozen=True)
class HistoryEntry:
    """One audited change to a center, with who made it (None: an import or the command line)."""

    event: AuditEvent
    actor_email: str | None


def center_history(session: Session, center_id: int, limit: int = 500) -> list[HistoryEntry]:
    """The changes made to a center's listing, newest first (refused access attempts left out)."""
    rows = session.execute(
        select(AuditEvent, User.email)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(
            AuditEvent.entity_type == "center",
            AuditEvent.entity_id == str(center_id),
            AuditEvent.action != "access.denied",
        )
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        .limit(limit)
    ).all()
    return [HistoryEntry(event, email) for event, email in rows]


def request_claim(session: Session, user: User, center: Center, message: str | None, *, now: datetime) -> ListingClaim:
    """Ask to manage a listing; an administrator approves or rejects the claim.

    Only center staff claim listings: administrators manage every listing already, and an
    approved claim gives access only to center staff. Raises ListingError when refused.
    """
    if user.manages(center):
        raise ListingError(Message(N_("You already manage %(center)s."), center=center.name))
    if user.role != Role.CENTER_STAFF:
        raise ListingError(
            N_("Only center staff accounts can claim a listing. Ask an administrator to change your role.")
        )
    pending = session.scalar(
        select(ListingClaim.id).where(
            ListingClaim.user_id == user.id,
            ListingClaim.center_id == center.id,
            ListingClaim.status == ClaimStatus.PENDING,
        )
    )
    if pending is not None:
        raise ListingError(
            Message(
                N_(
                    "You already asked to manage %(center)s; an administrator has not decided yet. "
                    "You will be able to edit the listing once they approve."
                ),
                center=center.name,
            )
        )
    text = " ".join((message or "").split()) or None
    if text and len(text) > 1000:
        raise ListingError(N_("Keep the message to 1000 characters."), {"message": [N_("Keep it to 1000 characters.")]})
    claim = ListingClaim(user_id=user.id, center_id=center.id, message=text, status=ClaimStatus.PENDING, created_at=now)
    session.add(claim)
    session.flush()
    audit.record(session, user, "listing_claim.create", "listing_claim", claim.id, detail=f"center {center.id}")
    return claim


def claims_of(session: Session, user: User) -> list[ListingClaim]:
    """A user's listing claims, newest first."""
    return list(
        session.scalars(
            select(ListingClaim)
            .where(ListingClaim.user_id == user.id)
            .order_by(ListingClaim.created_at.desc(), ListingClaim.id.desc())
        )
    )


def find_listings(
    session: Session, *, name: str = "", state: str = "", zip_code: str = "", limit: int = 25
) -> list[Center]:
    """Listings to claim: by part of the name (optionally in one state), or by ZIP code."""
    stmt = select(Center)
    if zip_code:
        stmt = stmt.where(Center.zip == zip_code)
    if name:
        pattern = "%" + name.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        matches = [func.lower(column).like(pattern, escape="\\") for column in (Center.name, Center.alt_name)]
        stmt = stmt.where(or_(*matches))
    if state:
        stmt = stmt.where(Center.state == state)
    return list(session.scalars(stmt.order_by(Center.name, Center.city, Center.id).limit(limit)))
