"""Referral offers in the center portal: staff of the offered center accept or decline, then follow up.

Center staff see the offers made to the centers they manage (others get a 404, and the
attempt is logged); administrators see all. Each offer is shown as its center sees it
(`presenters.center_offer_view`, the same view as the API's): the referral's details only
while the offer is open, accepted or admitted and consent is in force, and every page that
shows them is written to the audit log as a view of the referral.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import abort, flash, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy import and_, func, not_, select
from werkzeug.wrappers import Response
from wtforms import DateField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length

from directory.accounts import audit
from directory.extensions import db
from directory.i18n import translate
from directory.models import Offer, OfferStatus, Role, User
from directory.models.base import utcnow
from directory.portal import bp
from directory.referrals import service
from directory.referrals.dispatch import offering
from directory.referrals.presenters import center_offer_view, plan_messages
from directory.security import record_denied, roles_required

PORTAL_ROLES = ("center_staff", "admin")
RECENT_ANSWERED = 50


class AcceptOfferForm(FlaskForm):
    admission_date = DateField(
        _l("Admission date"),
        validators=[InputRequired(message=_l("Give the date the person can be admitted (YYYY-MM-DD)."))],
        description=_l("The day the person can come in."),
    )


class DeclineOfferForm(FlaskForm):
    reason = TextAreaField(
        _l("Reason for declining"),
        validators=[
            DataRequired(message=_l("Give a reason for declining: it helps the referral staff find another place.")),
            Length(max=2000, message=_l("Keep the reason to %(n)s characters.", n=2000)),
        ],
        description=_l("For example: no bed until next week, or the person's insurance is not accepted."),
        render_kw={"maxlength": 2000},  # a browser stops typing there: nothing typed is lost to the limit
    )


class FollowUpForm(FlaskForm):
    """Admitted, did not arrive, or completed: nothing to fill in but the CSRF token."""


def _actor() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


def _offers_query() -> Any:
    stmt = select(Offer)
    if not current_user.has_role(Role.ADMIN):
        stmt = stmt.where(Offer.center_id.in_([center.id for center in current_user.centers]))
    return stmt


@dataclass(frozen=True)
class WaitingOffers:
    """How many open offers wait for an answer from the signed-in user's centers, and when the first expires."""

    count: int
    first_expires_at: datetime | None


def waiting_offers(now: datetime) -> WaitingOffers:
    """The open offers to the signed-in user's centers (every center, for an administrator)."""
    still_open = and_(Offer.status == OfferStatus.OFFERED.value, Offer.expires_at > now)
    stmt = _offers_query().where(still_open).with_only_columns(func.count(Offer.id), func.min(Offer.expires_at))
    count, first = db.session.execute(stmt).one()
    return WaitingOffers(count, first)


@bp.get("/offers")
@roles_required(*PORTAL_ROLES)
def offers() -> ResponseReturnValue:
    """Open offers to your centers, soonest to expire first, then the recently answered or expired ones."""
    now = utcnow()
    still_open = and_(Offer.status == OfferStatus.OFFERED.value, Offer.expires_at > now)
    open_offers = db.session.scalars(_offers_query().where(still_open).order_by(Offer.expires_at, Offer.id)).all()
    answered = db.session.scalars(
        _offers_query()
        .where(not_(still_open))
        .order_by(Offer.responded_at.desc(), Offer.expires_at.desc(), Offer.id.desc())
        .limit(RECENT_ANSWERED)
    ).all()
    open_views = [center_offer_view(offer, now) for offer in open_offers]
    for view in open_views:
        if "referral_id" in view:  # flags and dates of the referral: a view of it
            audit.record(db.session, _actor(), "referral.view", "referral", view["referral_id"], detail="offers")
    db.session.commit()
    return render_template(
        "portal/offers.html",
        open_offers=open_views,
        answered=[center_offer_view(offer, now) for offer in answered],
        plan_messages=plan_messages(*(offer.referral for offer in [*open_offers, *answered])),
    )


def _offer_or_404(offer_id: int) -> Offer:
    """The offer, if it was made to a center the signed-in user manages; otherwise 404 (logged)."""
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        abort(404)
    if not current_user.manages(offer.center_id):
        record_denied("not staff of the offer's center", "offer", offer_id)
        abort(404)
    return offer


@bp.get("/offers/<int:offer_id>")
@roles_required(*PORTAL_ROLES)
def offer(offer_id: int) -> ResponseReturnValue:
    """One offer with what the center needs to decide: the step, the dates, flags, payment and why.

    Every answer comes back here (post/redirect/get): a failed one with its reasons shown at the top."""
    found = _offer_or_404(offer_id)
    view = center_offer_view(found, utcnow())
    if "referral_id" in view:
        audit.record(db.session, _actor(), "referral.view", "referral", found.referral_id, detail=f"offer {found.id}")
        db.session.commit()
    return render_template(
        "portal/offer.html",
        offer=view,
        plan_messages=plan_messages(found.referral) if "why" in view else {},
        accept_form=AcceptOfferForm(formdata=None),
        decline_form=DeclineOfferForm(formdata=None),
        follow_up_form=FollowUpForm(formdata=None),
    )


def _not_answered(offer_id: int, *reasons: str) -> Response:
    """Back to the offer's page, which says why the answer was not taken."""
    for reason in reasons:
        flash(reason, "error")
    return redirect(url_for("portal.offer", offer_id=offer_id))


def _refused(offer_id: int, error: service.ReferralError) -> Response:
    db.session.rollback()
    return _not_answered(offer_id, translate(error.message))


def form_errors(form: FlaskForm) -> list[str]:
    """A form's messages, each naming its field ("Admission date: Give the date ...")."""
    return [
        _("%(field)s: %(message)s", field=form[name].label.text, message=message)
        for name, messages in form.errors.items()
        for message in messages
    ]


@bp.post("/offers/<int:offer_id>/accept")
@roles_required(*PORTAL_ROLES)
def accept_offer(offer_id: int) -> ResponseReturnValue:
    """Yes, with an admission date. Of two staff answering at once, exactly one wins."""
    found = _offer_or_404(offer_id)
    form = AcceptOfferForm()
    if not form.validate():
        return _not_answered(offer_id, _("The offer was not accepted."), *form_errors(form))
    try:
        service.accept_offer(db.session, found.id, _actor(), form.admission_date.data, offering=offering())
    except service.InvalidAnswer as error:
        db.session.rollback()
        label = form[error.field].label.text
        return _not_answered(
            offer_id,
            _("The offer was not accepted."),
            _("%(field)s: %(message)s", field=label, message=translate(error.message)),
        )
    except service.ReferralError as error:
        return _refused(offer_id, error)
    flash(_("Accepted: admission on %(day)s.", day=form.admission_date.data.isoformat()))
    return redirect(url_for("portal.offer", offer_id=offer_id))


@bp.post("/offers/<int:offer_id>/decline")
@roles_required(*PORTAL_ROLES)
def decline_offer(offer_id: int) -> ResponseReturnValue:
    """No, with a reason; the referral is offered to the next center."""
    found = _offer_or_404(offer_id)
    form = DeclineOfferForm()
    if not form.validate():
        return _not_answered(offer_id, _("The offer was not declined."), *form_errors(form))
    try:
        service.decline_offer(db.session, found.id, _actor(), form.reason.data or "", offering=offering())
    except service.ReferralError as error:
        return _refused(offer_id, error)
    flash(_("Declined. Thank you: the referral goes to the next center."))
    return redirect(url_for("portal.offers"))


@bp.post("/offers/<int:offer_id>/<any(admitted, no_show, completed):outcome>")
@roles_required(*PORTAL_ROLES)
def follow_up_offer(offer_id: int, outcome: str) -> ResponseReturnValue:
    """The person was admitted, did not arrive, or completed the program."""
    found = _offer_or_404(offer_id)
    if not FollowUpForm().validate():
        abort(400)
    try:
        service.record_follow_up(db.session, found.id, _actor(), OfferStatus(outcome))
    except service.ReferralError as error:
        return _refused(offer_id, error)
    flash(_("Saved. Thank you for following up."))
    return redirect(url_for("portal.offer", offer_id=offer_id))
