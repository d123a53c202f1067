"""Template helpers for the public pages: plain-words labels, phone and map links, listing
statements, and search links that keep a person's place and filters."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

import phonenumbers
from flask import url_for
from flask_babel import format_date
from flask_babel import gettext as _
from wtforms import Field

from directory.models import Center
from directory.public import bp
from directory.public.forms import SearchForm
from directory.search import geocoding
from directory.search.geodesy import geodesic_miles
from directory.search.listing import CenterListing
from directory.search.query import SearchResult
from directory.search.service import DEFAULT_RADIUS_MILES, MAX_RADIUS_MILES
from directory.sources.provenance import is_current, source_label, superseded_statement
from directory.translatable import N_, LocalDate, Message
from directory.vocabulary import ATTRIBUTE_VOCABULARIES, MEDICATION_GROUPS, label

#: Multi-valued search filters, in the order they are shown.
CODE_FILTERS = ("level_of_care", "detox_substance", "payment", "medication", "population", "language")
#: Radius choices offered on the search form, in miles.
RADIUS_CHOICES = (5, 10, 25, 50, 100, 250, 500)
#: Radii suggested when a search finds nothing.
WIDER_RADII = (50, 100, 250, 500)
#: The medication codes that mean a center offers naltrexone in some form.
NALTREXONE_CODES = frozenset(MEDICATION_GROUPS["naltrexone"])


@bp.app_template_filter("miles")
def format_miles(value: float) -> str:
    """A radius without trailing zeros: 25.0 -> "25", 7.5 -> "7.5"."""
    return f"{value:g}"


def format_long_date(moment: datetime) -> str:
    """A date as people write it, in the page's language: "March 3, 2026", "3 de marzo de 2026"."""
    return format_date(moment.date(), "long")


def long_date(moment: datetime) -> LocalDate:
    """A date as people write it in the page's language: "March 3, 2026", "3 de marzo de 2026"."""
    return LocalDate(moment.date(), "long")


@bp.app_template_global()
def choice_labels(field: Field) -> dict[str, str]:
    """A choice field's options, value -> label, in order."""
    return {choice.value: choice.label for choice in field.iter_choices()}


@bp.app_template_global()
def labels(kind: str, codes: list[str]) -> list[str]:
    """The labels of several codes, in the vocabulary's order (e.g. most intensive care first), in
    the page's language."""
    order = {code: i for i, code in enumerate(ATTRIBUTE_VOCABULARIES[kind])}
    return [_(label(kind, code)) for code in sorted(codes, key=lambda code: order.get(code, len(order)))]


@bp.app_template_global()
def tel_href(phone: str) -> str:
    """A `tel:` link for a phone number as the directory stores it, extension included."""
    try:
        number = phonenumbers.parse(phone, "US")
    except phonenumbers.NumberParseException:
        return "tel:" + "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.RFC3966)


@bp.app_template_global()
def web_href(url: str | None) -> str | None:
    """The address if it is an ordinary web link (never `javascript:` or the like), else None."""
    return url if url and urlsplit(url).scheme in ("http", "https") else None


@bp.app_template_global()
def directions_url(center: Center | CenterListing) -> str:
    """Directions to the center on OpenStreetMap (the person's device fills in the start)."""
    return f"https://www.openstreetmap.org/directions?to={center.latitude},{center.longitude}"


#: The medications for opioid use disorder, by their section of the medications page: the codes
#: that mean a center offers each, and its name in a sentence.
MEDICATION_SECTIONS: dict[str, tuple[frozenset[str], str]] = {
    "buprenorphine": (frozenset({"buprenorphine"}), N_("buprenorphine")),
    "methadone": (frozenset({"methadone"}), N_("methadone")),
    "naltrexone": (NALTREXONE_CODES, N_("naltrexone")),
}


@bp.app_template_global()
def medication_sections(center: Center | CenterListing) -> list[str]:
    """The sections of the medications page about the medications the center offers."""
    return [name for name, (codes, _) in MEDICATION_SECTIONS.items() if not codes.isdisjoint(center.medications)]


@bp.app_template_global()
def medication_names(sections: list[str]) -> str:
    """ "buprenorphine and naltrexone", for those sections, in the page's language."""
    names = [_(MEDICATION_SECTIONS[name][1]) for name in sections]
    if len(names) == 1:
        return names[0]
    return _("%(names)s and %(last)s", names=", ".join(names[:-1]), last=names[-1])


@bp.app_template_global()
def medications_url(section: str = "", near: str | None = None, radius_miles: object = None) -> str:
    """The medications page (at one medication's section), carrying the place the person searched, so
    that its search links search there again."""
    place = searched_place(near, radius_miles)
    return url_for("public.medications", **place) + (f"#{section}" if section else "")


def searched_place(near: object, radius_miles: object) -> dict[str, str]:
    """`near` and `radius_miles` as query parameters, each only if it looks like one (else left out)."""
    place: dict[str, str] = {}
    if isinstance(near, str) and near.strip() and len(near) <= 120 and near.isprintable():
        place["near"] = near.strip()
        try:
            radius = float(radius_miles)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            radius = 0.0
        if 0 < radius <= MAX_RADIUS_MILES:
            place["radius_miles"] = format_miles(radius)
    return place


@bp.app_template_global()
def accepting_words(accepting: bool | None) -> str:
    """ "Accepting referrals" in words, "unknown" included (imported listings until the center says)."""
    if accepting is None:
        return N_("Unknown: the center has not said. Call to ask.")
    return N_("Yes") if accepting else N_("No")


@bp.app_template_global()
def listing_statement(center: Center, now: datetime) -> str:
    """Where the listing comes from, when, and whether the center has confirmed it, for the profile."""
    confirmed = center.last_verified_at
    source = source_label(center.source, center.source_vintage, center.source_date)
    if confirmed is not None and center.is_verified(now):
        return Message(N_("Confirmed by the center on %(day)s. %(source)s."), day=long_date(confirmed), source=source)
    if confirmed is not None:
        return Message(
            N_("%(source)s. Last confirmed by the center on %(day)s, more than six months ago: call to confirm."),
            source=source,
            day=long_date(confirmed),
        )
    return Message(N_("%(source)s. Not confirmed by the center: call to confirm."), source=source)


@bp.app_template_global()
def superseded_warning(center: Center) -> str | None:
    """For a listing a newer source no longer has, the warning its profile opens with."""
    if center.superseded_at is None or center.superseded_by is None or center.superseded_by_date is None:
        return None
    return superseded_statement(center.superseded_by, center.superseded_by_date)


@bp.app_template_global()
def listing_note(center: Center | CenterListing, now: datetime) -> str:
    """The short form of `listing_statement`, for a result card: the source and its date, with
    "call to confirm" when the source is old."""
    confirmed = center.last_verified_at
    if confirmed is not None and center.is_verified(now):
        return Message(N_("Confirmed by the center on %(day)s"), day=long_date(confirmed))
    source = source_label(center.source, center.source_vintage, center.source_date)
    if is_current(center.source_vintage, center.source_date, now):
        return source
    return Message(N_("%(source)s: call to confirm"), source=source)


@bp.app_template_global()
def reported_statement(reported_at: datetime) -> str:
    """What a listing with an open problem report says, until the report is resolved."""
    return Message(N_("Reported as possibly out of date on %(day)s."), day=long_date(reported_at))


def search_params(form: SearchForm) -> list[tuple[str, str]]:
    """The search as query parameters: the place, the radius and every chosen filter."""
    params = [
        ("near", form.near.data or ""),
        ("radius_miles", format_miles(form.radius_miles.data or DEFAULT_RADIUS_MILES)),
    ]
    for name in CODE_FILTERS:
        params.extend((name, code) for code in form[name].data or ())
    if form.accepting_referrals.data:
        params.append(("accepting_referrals", form.accepting_referrals.data))
    if form.verified_only.data:
        params.append(("verified_only", "true"))
    if form.pathway.data:
        params.append(("pathway", form.pathway.data))
    if form.per_page.data and form.per_page.data != form.per_page.default:
        params.append(("per_page", str(form.per_page.data)))
    if form.sort.data and form.sort.data != form.sort.default:
        params.append(("sort", form.sort.data))
    return params


@bp.app_template_global()
def search_url(
    form: SearchForm,
    *,
    page: int = 1,
    radius_miles: float | None = None,
    without: tuple[str, str] | None = None,
    sort: str | None = None,
    near: str | None = None,
) -> str:
    """The same search on another page, with another radius, order or place, or without one filter value."""
    params = [param for param in search_params(form) if param != without]
    if near is not None:
        params = [(k, near if k == "near" else v) for k, v in params]
    if radius_miles is not None:
        params = [(k, format_miles(radius_miles) if k == "radius_miles" else v) for k, v in params]
    if sort is not None:
        params = [param for param in params if param[0] != "sort"]
        if sort != form.sort.default:
            params.append(("sort", sort))
    if page > 1:
        params.append(("page", str(page)))
    return url_for("public.search") + "?" + urlencode(params)


@bp.app_template_global()
def profile_url(center: Center | CenterListing, form: SearchForm) -> str:
    """A center's profile, carrying the search it was found by: the profile then gives its
    distance from the place searched, and a link back to the same page of results."""
    search = urlsplit(search_url(form, page=form.page.data or 1))
    return url_for("public.center_profile", slug=center.slug) + "?" + search.query


@dataclass(frozen=True)
class FoundBy:
    """The search a profile was opened from: how far the center is from its place, and the way back."""

    distance_miles: float
    place: str
    back_url: str
    latitude: float
    longitude: float


def found_by(form: SearchForm, center: Center) -> FoundBy:
    """`FoundBy` for a validated search form (its place located) and the center it found."""
    origin = form.origin
    assert origin is not None  # located by `validate()`
    miles = geodesic_miles(origin.latitude, origin.longitude, center.latitude, center.longitude)
    back_url = search_url(form, page=form.page.data or 1)
    return FoundBy(miles, origin.label, back_url, origin.latitude, origin.longitude)


@bp.app_template_global()
def results_map(result: SearchResult, form: SearchForm) -> dict[str, Any]:
    """What the results page's map shows (static/map.js): each result numbered as in the list,
    with its name and profile link, and the place searched."""
    query = result.query
    first_number = (query.page - 1) * (query.per_page or 0) + 1
    markers = [
        {
            "number": number,
            "name": hit.center.name,
            "latitude": hit.center.latitude,
            "longitude": hit.center.longitude,
            "url": profile_url(hit.center, form),
        }
        for number, hit in enumerate(result.hits, start=first_number)
    ]
    origin = query.origin
    place = {"name": origin.label, "latitude": origin.latitude, "longitude": origin.longitude}
    return {"markers": markers, "place": place}


@bp.app_template_global()
def profile_map(center: Center, opened_from: FoundBy | None) -> dict[str, Any]:
    """What a profile's map shows (static/map.js): the center and, opened from results, the place searched."""
    marker = {"name": center.name, "latitude": center.latitude, "longitude": center.longitude}
    place = None
    if opened_from is not None:
        place = {"name": opened_from.place, "latitude": opened_from.latitude, "longitude": opened_from.longitude}
    return {"markers": [marker], "place": place}


@bp.app_template_global()
def other_towns(form: SearchForm) -> list[str]:
    """The other towns called what the person typed without a state, when one was chosen for it."""
    return geocoding.other_towns(form.near.data or "")


@bp.app_template_global()
def change_search_url(form: SearchForm) -> str:
    """The search form again, filled in with this search."""
    return url_for("public.home") + "?" + urlencode(search_params(form))


@dataclass(frozen=True)
class ActiveFilter:
    """A filter the person chose, and the same search without it."""

    description: str
    remove_url: str


@bp.app_template_global()
def active_filters(form: SearchForm) -> list[ActiveFilter]:
    """Every chosen filter value, each with a link to the search without it."""
    found = []
    for name in CODE_FILTERS:
        field = form[name]
        options = choice_labels(field)
        for code in field.data or ():
            found.append(ActiveFilter(f"{field.label.text}: {options[code]}", search_url(form, without=(name, code))))
    if form.accepting_referrals.data:
        answer = choice_labels(form.accepting_referrals)[form.accepting_referrals.data]
        without = ("accepting_referrals", form.accepting_referrals.data)
        found.append(
            ActiveFilter(_("Accepting referrals: %(answer)s", answer=answer), search_url(form, without=without))
        )
    if form.verified_only.data:
        found.append(
            ActiveFilter(
                _("Only listings confirmed by the center"), search_url(form, without=("verified_only", "true"))
            )
        )
    if form.pathway.data:
        description = choice_labels(form.pathway)[form.pathway.data]
        found.append(ActiveFilter(description, search_url(form, without=("pathway", form.pathway.data))))
    return found


@bp.app_template_global()
def wider_radii(radius_miles: float, nearest_miles: float | None) -> list[int]:
    """Up to two larger radii worth trying when a search finds nothing: those that reach the nearest
    matching center (`nearest_miles` away; None: there is none within the largest radius)."""
    if nearest_miles is None:
        return []
    return [r for r in WIDER_RADII if radius_miles < r <= MAX_RADIUS_MILES and r >= nearest_miles][:2]


@bp.app_template_global()
def radius_choices(current: float | None) -> list[float]:
    """The radii offered on the form, including the one asked for if it is not among them."""
    choices = [float(r) for r in RADIUS_CHOICES]
    if current and current not in choices:
        choices = sorted([*choices, current])
    return choices


@bp.app_template_global()
def page_numbers(page: int, pages: int) -> list[int | None]:
    """The page numbers to link: the first, the last and two either side of this one; None for a gap."""
    shown = sorted({1, pages, *range(max(1, page - 2), min(pages, page + 2) + 1)})
    numbers: list[int | None] = []
    previous = 0
    for number in shown:
        if number - previous > 1:
            numbers.append(None)
        numbers.append(number)
        previous = number
    return numbers
