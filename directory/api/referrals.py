"""Referral API: referral staff submit and follow referrals; center staff answer offers.

Who sees what (minimum necessary): the referral staff who sent a referral, and admins, see all
of it. Staff of an offered center see the center's view of their offers
(`presenters.center_offer_view`): the referral's details only while the offer is open, accepted
or admitted and the person's consent is in force, the contact phone and client reference only
once they accept; a closed offer is only its id, step, status and dates. Everyone else gets 404,
and the attempt is logged. Every view of a referral's details is audited.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app, jsonify, request
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import func, or_, select

from directory.accounts import audit
from directory.api import bp
from directory.api.schemas import MAX_PAGE
from directory.api.views import NOT_A_JSON_OBJECT, error_response
from directory.extensions import db
from directory.models import Offer, OfferStatus, Referral, Role, center_staff
from directory.models.base import utcnow
from directory.referrals import dispatch, service
from directory.referrals.intake import IntakeInvalid, validate_intake
from directory.referrals.presenters import center_offer_view, offers_shared_with, reads_in_full, referral_view
from directory.security import record_denied, roles_required

REFERRAL_ROLES = ("referral_staff", "admin")
OFFER_ROLES = ("center_staff", "admin")
ANY_ROLE = ("referral_staff", "center_staff", "admin")
RECENT_OFFERS = timedelta(days=30)
MAX_PER_PAGE = 100
TIMESTAMP = "%Y-%m-%dT%H:%M:%SZ"
FOLLOW_UPS = {"admitted": OfferStatus.ADMITTED, "no_show": OfferStatus.NO_SHOW, "completed": OfferStatus.COMPLETED}


def _body(*, optional: bool = False) -> dict[str, Any] | None:
    """The request's JSON object; an empty body counts as {} when `optional`."""
    if optional and not request.get_data():
        return {}
    body = request.get_json(silent=True)
    return body if isinstance(body, dict) else None


def _record_view(referral_id: str, detail: str | None = None) -> None:
    audit.record(db.session, current_user, "referral.view", "referral", referral_id, detail=detail)


def _not_found(kind: str, entity_id: object) -> ResponseReturnValue:
    return error_response(f"No {kind} has id {entity_id}.", 404)


def _referral_or_denied(referral_id: str) -> Referral | None:
    """The referral if the current user may act on it as its sender (or an admin); else None, logged."""
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        return None
    if not reads_in_full(current_user, referral):
        record_denied("not the sender of this referral", "referral", referral_id)
        return None
    return referral


def _offer_or_denied(offer_id: int) -> Offer | None:
    """The offer if the current user staffs its center (or is an admin); else None, logged."""
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        return None
    if not current_user.manages(offer.center_id):
        record_denied("not staff of this offer's center", "offer", offer_id)
        return None
    return offer


@bp.post("/referrals")
@roles_required(*REFERRAL_ROLES)
def submit_referral() -> ResponseReturnValue:
    """Check the intake, save the referral and start routing it; 202 with its id and status. 409 if the
    caller has a referral in progress with the same client reference, unless `allow_duplicate`."""
    body = _body()
    if body is None:
        return error_response(NOT_A_JSON_OBJECT, 400)
    allow_duplicate = body.pop("allow_duplicate", False)
    if not isinstance(allow_duplicate, bool):
        message = "Must be true or false."
        return error_response(f"allow_duplicate: {message}", 400, {"allow_duplicate": [message]})
    try:
        intake = validate_intake(body, current_app.extensions["geocoder"], utcnow())
    except IntakeInvalid as invalid:
        summary = " ".join(f"{name}: {messages[0]}" for name, messages in invalid.fields.items())
        return error_response(f"Invalid referral. {summary}", 400, invalid.fields)
    try:
        referral = dispatch.submit_and_send(intake, current_user, allow_duplicate=allow_duplicate)
    except service.DuplicateReferral as duplicate:
        other = f"/api/v1/referrals/{duplicate.existing_id}"
        message = f"{duplicate} To send it anyway, add allow_duplicate: true. The referral in progress: {other}"
        return error_response(message, 409, {"client_reference": [str(duplicate)]})
    response = jsonify({"id": referral.id, "status": referral.status})
    response.status_code = 202
    response.headers["Location"] = f"/api/v1/referrals/{referral.id}"
    return response


def _whole_number(text: str, low: int, high: int) -> bool:
    """Whether the text is a whole number (ASCII digits only) from low to high."""
    return text.isascii() and text.isdigit() and low <= int(text) <= high


@bp.get("/referrals")
@roles_required(*REFERRAL_ROLES)
def list_referrals() -> ResponseReturnValue:
    """The caller's referrals (an admin's: all), newest first, a page at a time."""
    page, per_page = request.args.get("page", "1"), request.args.get("per_page", "20")
    if not _whole_number(page, 1, MAX_PAGE):
        message = f"A whole number from 1 to {MAX_PAGE}."
        return error_response(f"page: {message}", 400, {"page": [message]})
    if not _whole_number(per_page, 1, MAX_PER_PAGE):
        message = f"A whole number from 1 to {MAX_PER_PAGE}."
        return error_response(f"per_page: {message}", 400, {"per_page": [message]})
    page_number, size = int(page), int(per_page)
    query = select(Referral)
    if current_user.role != Role.ADMIN:
        query = query.where(Referral.created_by_id == current_user.id)
    total = db.session.scalar(select(func.count()).select_from(query.subquery()))
    referrals = db.session.scalars(
        query.order_by(Referral.created_at.desc(), Referral.id).offset((page_number - 1) * size).limit(size)
    ).all()
    results = [
        {
            "id": referral.id,
            "status": referral.status,
            "status_reason": referral.status_reason,
            "client_reference": referral.client_reference,
            "created_at": referral.created_at.strftime(TIMESTAMP),
            "updated_at": referral.updated_at.strftime(TIMESTAMP),
        }
        for referral in referrals
    ]
    for referral in referrals:
        _record_view(referral.id, "list")
    db.session.commit()
    return jsonify({"total": total, "page": page_number, "per_page": size, "results": results})


@bp.get("/referrals/<referral_id>")
@roles_required(*ANY_ROLE)
def get_referral(referral_id: str) -> ResponseReturnValue:
    """One referral: in full for its sender and admins; for center staff, their offers that share it now."""
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        return _not_found("referral", referral_id)
    now = utcnow()
    if reads_in_full(current_user, referral):
        view = referral_view(referral)
    elif offers := offers_shared_with(current_user, referral, now):
        view = {"id": referral.id, "offers": [center_offer_view(o, now) for o in offers]}
    else:
        record_denied("no access to this referral", "referral", referral_id)
        return _not_found("referral", referral_id)
    _record_view(referral.id)
    db.session.commit()
    return jsonify(view)


def _state(referral: Referral) -> ResponseReturnValue:
    return jsonify({"id": referral.id, "status": referral.status, "status_reason": referral.status_reason})


@bp.post("/referrals/<referral_id>/cancel")
@roles_required(*REFERRAL_ROLES)
def cancel_referral(referral_id: str) -> ResponseReturnValue:
    """Stop routing; open offers are withdrawn."""
    referral = _referral_or_denied(referral_id)
    if referral is None:
        return _not_found("referral", referral_id)
    body = _body(optional=True)
    if body is None:
        return error_response(NOT_A_JSON_OBJECT, 400)
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        return error_response("reason must be text.", 400, {"reason": ["Text, or leave it out."]})
    try:
        referral = service.cancel_referral(db.session, referral.id, current_user, reason)
    except service.ReferralError as error:
        return error_response(str(error), 409)
    return _state(referral)


@bp.post("/referrals/<referral_id>/consent/revoke")
@roles_required(*REFERRAL_ROLES)
def revoke_consent(referral_id: str) -> ResponseReturnValue:
    """The person withdrew consent: routing stops, open offers are withdrawn, centers no longer see it."""
    referral = _referral_or_denied(referral_id)
    if referral is None:
        return _not_found("referral", referral_id)
    referral = service.revoke_consent(db.session, referral.id, current_user)
    return _state(referral)


@bp.get("/offers")
@roles_required(*OFFER_ROLES)
def list_offers() -> ResponseReturnValue:
    """Open offers to the caller's centers (an admin's: all), and those of the last 30 days, newest first:
    each as its center sees it (`center_offer_view`)."""
    now = utcnow()
    query = select(Offer).where(or_(Offer.status == OfferStatus.OFFERED.value, Offer.created_at >= now - RECENT_OFFERS))
    if current_user.role != Role.ADMIN:
        mine = select(center_staff.c.center_id).where(center_staff.c.user_id == current_user.id)
        query = query.where(Offer.center_id.in_(mine))
    offers = db.session.scalars(query.order_by(Offer.created_at.desc(), Offer.id.desc()).limit(500)).all()
    results = [_center_view(offer, now) for offer in offers]
    db.session.commit()
    return jsonify({"results": results})


def _center_view(offer: Offer, now: datetime) -> dict[str, Any]:
    """The offer as its center sees it; a view that shows the referral's details is audited (caller commits)."""
    view = center_offer_view(offer, now)
    if "referral_id" in view:
        _record_view(offer.referral_id, f"offer {offer.id}")
    return view


def _offer_answer(offer_id: int, answer: Any) -> ResponseReturnValue:
    """Run an answer to an offer; a value out of bounds is 400, a lost race, a closed offer or lapsed
    consent 409. Answers with the offer as its center sees it now."""
    try:
        outcome = answer()
    except service.InvalidAnswer as error:
        db.session.rollback()
        return error_response(f"{error.field}: {error}", 400, {error.field: [str(error)]})
    except service.ReferralError as error:
        db.session.rollback()
        return error_response(str(error), 409)
    view = _center_view(outcome.offer, utcnow())
    db.session.commit()
    return jsonify(view)


def _answer_body(offer_id: int) -> dict[str, Any] | ResponseReturnValue:
    """The JSON body of an answer to an offer the user may answer, or the error response."""
    if _offer_or_denied(offer_id) is None:
        return _not_found("offer", offer_id)
    body = _body()
    if body is None:
        return error_response(NOT_A_JSON_OBJECT, 400)
    return body


@bp.post("/offers/<int:offer_id>/accept")
@roles_required(*OFFER_ROLES)
def accept_offer(offer_id: int) -> ResponseReturnValue:
    """The center takes the referral, with the admission date."""
    body = _answer_body(offer_id)
    if not isinstance(body, dict):
        return body
    given = body.get("admission_date")
    message = "Required: the admission date, YYYY-MM-DD." if given in (None, "") else "Is not a date: use YYYY-MM-DD."
    try:
        if not isinstance(given, str) or len(given) != len("YYYY-MM-DD"):
            raise ValueError
        admission = date.fromisoformat(given)
    except ValueError:
        return error_response(f"admission_date: {message}", 400, {"admission_date": [message]})
    return _offer_answer(
        offer_id,
        lambda: service.accept_offer(db.session, offer_id, current_user, admission, offering=dispatch.offering()),
    )


@bp.post("/offers/<int:offer_id>/decline")
@roles_required(*OFFER_ROLES)
def decline_offer(offer_id: int) -> ResponseReturnValue:
    """The center cannot take the referral (with a reason); the next center is asked."""
    body = _answer_body(offer_id)
    if not isinstance(body, dict):
        return body
    reason = body.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        message = "Required: why you cannot take the referral (it helps the referral staff find another place)."
        return error_response(f"reason: {message}", 400, {"reason": [message]})
    return _offer_answer(
        offer_id,
        lambda: service.decline_offer(db.session, offer_id, current_user, reason, offering=dispatch.offering()),
    )


def _follow_up(offer_id: int, outcome: str) -> ResponseReturnValue:
    offer = _offer_or_denied(offer_id)
    if offer is None:
        return _not_found("offer", offer_id)
    return _offer_answer(
        offer_id, lambda: service.record_follow_up(db.session, offer_id, current_user, FOLLOW_UPS[outcome])
    )


@bp.post("/offers/<int:offer_id>/admitted")
@roles_required(*OFFER_ROLES)
def offer_admitted(offer_id: int) -> ResponseReturnValue:
    """The person arrived (an accepted offer)."""
    return _follow_up(offer_id, "admitted")


@bp.post("/offers/<int:offer_id>/no_show")
@roles_required(*OFFER_ROLES)
def offer_no_show(offer_id: int) -> ResponseReturnValue:
    """The person did not arrive (an accepted offer); the referral goes to review."""
    return _follow_up(offer_id, "no_show")


@bp.post("/offers/<int:offer_id>/completed")
@roles_required(*OFFER_ROLES)
def offer_completed(offer_id: int) -> ResponseReturnValue:
    """The person completed the step (an admitted offer)."""
    return _follow_up(offer_id, "completed")
