"""FHIR R4 reads of a referral (ServiceRequest) and of its offers (Task), with the referral API's
access rules: the sender and admins read it all; staff of an offered center read their offers, and
the referral only while one of them shares it, reduced to what the API shows them; everyone else
gets 404 (logged). Every read that shows a referral's details is audited, as the API's are.
"""

from __future__ import annotations

from typing import Any

from flask import Response, json
from flask.typing import ResponseReturnValue
from flask_login import current_user

from directory.accounts import audit
from directory.extensions import db
from directory.fhir import bp
from directory.models import Offer, Referral
from directory.models.base import utcnow
from directory.referrals import fhir
from directory.referrals.presenters import (
    center_offer_view,
    offer_view,
    offers_shared_with,
    reads_in_full,
    referral_view,
)
from directory.security import record_denied, roles_required

READERS = ("referral_staff", "center_staff", "admin")


def fhir_response(resource: dict[str, Any], status: int = 200) -> Response:
    """A resource as `application/fhir+json`."""
    return Response(json.dumps(resource), status=status, content_type=fhir.CONTENT_TYPE)


def _not_found(kind: str, resource_id: object) -> Response:
    return fhir_response(fhir.operation_outcome(f"No {kind} has id {resource_id}."), 404)


def _record_view(referral_id: str, detail: str) -> None:
    audit.record(db.session, current_user, "referral.view", "referral", referral_id, detail=detail)


@bp.get("/ServiceRequest/<referral_id>")
@roles_required(*READERS)
def service_request(referral_id: str) -> ResponseReturnValue:
    """A referral as a ServiceRequest: whole for its sender and admins, reduced for an offered center."""
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        return _not_found("ServiceRequest", referral_id)
    if reads_in_full(current_user, referral):
        resource = fhir.service_request_for_sender(referral_view(referral))
    elif offers := offers_shared_with(current_user, referral, now := utcnow()):
        resource = fhir.service_request_for_center(referral.id, [center_offer_view(o, now) for o in offers])
    else:
        record_denied("no access to this referral", "referral", referral_id)
        return _not_found("ServiceRequest", referral_id)
    _record_view(referral.id, "FHIR ServiceRequest")
    db.session.commit()
    return fhir_response(resource)


@bp.get("/Task/<int:offer_id>")
@roles_required(*READERS)
def task(offer_id: int) -> ResponseReturnValue:
    """An offer as a Task: as the sender and admins see it, or as its center sees it."""
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        return _not_found("Task", offer_id)
    if reads_in_full(current_user, offer.referral):
        view = offer_view(offer)
    elif current_user.manages(offer.center_id):
        view = center_offer_view(offer, utcnow())
    else:
        record_denied("neither the referral's sender nor staff of this offer's center", "offer", offer_id)
        return _not_found("Task", offer_id)
    resource = fhir.task(view, offer.center)
    if "referral_id" in view:
        _record_view(offer.referral_id, f"FHIR Task {offer.id}")
    db.session.commit()
    return fhir_response(resource)
