"""API views: thin wrappers that validate parameters and call the search and listing code.

Reads are open; writes need a bearer token of center staff (for their own centers) or an
administrator, checked exactly as on the portal.
"""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import current_user

from directory import centers_editing as listings
from directory.api import bp
from directory.api.openapi import openapi_document
from directory.api.schemas import Error, center_detail, center_history, search_response_json
from directory.extensions import db
from directory.models import Center
from directory.models.base import utcnow
from directory.public.forms import SearchForm, plain_search_query
from directory.search.service import find_centers_near
from directory.security import managed_center_or_404, roles_required

WRITE_ROLES = ("center_staff", "admin")


def error_response(message: str, status: int, fields: dict[str, list[str]] | None = None) -> ResponseReturnValue:
    return jsonify(Error(error=message, fields=fields or {}).model_dump()), status


@bp.get("/centers/search")
def search_centers() -> ResponseReturnValue:
    """Centers near a place, nearest first, with filters and pagination."""
    query = plain_search_query(request.args.to_dict(flat=False), current_app.extensions["geocoder"])
    if query is None:  # something to explain, or not plainly valid: the form decides
        form = SearchForm(formdata=request.args)
        if not form.validate():
            # str(): the form's own messages are translatable (lazy) strings, in English here.
            fields = {name: [str(message) for message in messages] for name, messages in form.errors.items()}
            summary = " ".join(f"{name}: {messages[0]}" for name, messages in fields.items())
            return error_response(f"Invalid search. {summary}", 400, fields)
        query = form.to_query()
    body = search_response_json(find_centers_near(db.session, query))
    return Response(body, mimetype="application/json")


@bp.get("/centers/<int:center_id>")
def get_center(center_id: int) -> ResponseReturnValue:
    """One center's full listing."""
    center = db.session.get(Center, center_id)
    if center is None:
        return error_response(f"No center has id {center_id}.", 404)
    return jsonify(center_detail(center, utcnow()).model_dump(mode="json"))


NOT_A_JSON_OBJECT = "Send a JSON object, with Content-Type: application/json."


def _json_object() -> dict[str, Any] | None:
    """The request's body if it is a JSON object."""
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _listing_error(error: listings.ListingError) -> ResponseReturnValue:
    return error_response(str(error), 400, error.fields)


def _center_response(center: Center) -> Response:
    return jsonify(center_detail(center, utcnow()).model_dump(mode="json"))


@bp.patch("/centers/<int:center_id>")
@roles_required(*WRITE_ROLES)
def edit_center(center_id: int) -> ResponseReturnValue:
    """Change any editable fields of a listing; returns the listing."""
    center = managed_center_or_404(center_id)
    body = _json_object()
    if body is None:
        return error_response(NOT_A_JSON_OBJECT, 400)
    if not body:
        return error_response(f"Send at least one field to change: {', '.join(listings.EDITABLE_FIELDS)}.", 400)
    try:
        values = listings.check_center_edit(body)
        edit = listings.apply_center_edit(
            db.session, center, values, actor=current_user, now=utcnow(), geocoder=current_app.extensions["geocoder"]
        )
    except listings.ListingError as error:
        db.session.rollback()
        return _listing_error(error)
    db.session.commit()
    response = _center_response(center)
    response.headers["X-Location-Source"] = edit.location
    return response


@bp.put("/centers/<int:center_id>/capacity")
@roles_required(*WRITE_ROLES)
def update_capacity(center_id: int) -> ResponseReturnValue:
    """Set whether the center accepts referrals and how many beds are free."""
    center = managed_center_or_404(center_id)
    body = _json_object()
    if body is None:
        return error_response(NOT_A_JSON_OBJECT, 400)
    unknown = sorted(set(body) - set(listings.CAPACITY_FIELDS))
    if unknown:
        fields = {name: [f"Unknown field; send {' and '.join(listings.CAPACITY_FIELDS)}."] for name in unknown}
        return error_response(f"Unknown field{'s' if len(unknown) > 1 else ''}: {', '.join(unknown)}.", 400, fields)
    try:
        accepting, beds = listings.check_capacity(body.get("accepting_referrals"), body.get("beds_available"))
    except listings.ListingError as error:
        return _listing_error(error)
    listings.update_capacity(db.session, center, accepting, beds, actor=current_user, now=utcnow())
    db.session.commit()
    return _center_response(center)


@bp.post("/centers/<int:center_id>/confirm")
@roles_required(*WRITE_ROLES)
def confirm_center(center_id: int) -> ResponseReturnValue:
    """The listing is accurate: it shows as confirmed for the next 180 days."""
    center = managed_center_or_404(center_id)
    listings.confirm_listing(db.session, center, actor=current_user, now=utcnow())
    db.session.commit()
    return _center_response(center)


@bp.get("/centers/<int:center_id>/history")
@roles_required(*WRITE_ROLES)
def get_center_history(center_id: int) -> ResponseReturnValue:
    """The audited changes to a listing, newest first."""
    center = managed_center_or_404(center_id)
    entries = listings.center_history(db.session, center.id)
    return jsonify(center_history(center.id, entries).model_dump(mode="json"))


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_document())
