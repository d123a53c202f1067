"""Views of the center portal: thin wrappers over `directory.centers_editing`.

Every view needs a center staff or admin account; a center's pages also need the user to
manage that center (others get a 404, and the attempt is logged by `managed_center_or_404`).
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user

from directory import centers_editing as listings
from directory.extensions import db
from directory.i18n import translate
from directory.models import Center, ClaimStatus, ListingReport, Role, User
from directory.models.base import utcnow
from directory.models.upkeep import REPORT_OUTCOMES, REPORT_REASONS
from directory.portal import bp
from directory.portal.forms import (
    CapacityForm,
    CenterEditForm,
    ClaimForm,
    ConfirmForm,
    ListingSearchForm,
    ResolveReportForm,
)
from directory.portal.offers import form_errors, waiting_offers
from directory.public.helpers import format_long_date
from directory.security import managed_center_or_404, record_denied, roles_required, safe_next_url
from directory.translatable import N_
from directory.upkeep import reports
from directory.urls import as_id

PORTAL_ROLES = ("center_staff", "admin")


@bp.app_template_global()
def listing_status(center: Center, now: datetime) -> tuple[str, str]:
    """(kind, words) for a listing's confirmation: "confirmed", "lapsed" or "never"."""
    confirmed, lapses = center.last_verified_at, listings.confirmation_lapses_at(center)
    if confirmed is None or lapses is None:
        return "never", _("Never confirmed by the center")
    if center.is_verified(now):
        until = format_long_date(lapses)
        return "confirmed", _(
            "Confirmed on %(confirmed)s; shows as confirmed until %(until)s",
            confirmed=format_long_date(confirmed),
            until=until,
        )
    return "lapsed", _(
        "Unconfirmed since %(lapsed)s (last confirmed on %(confirmed)s)",
        lapsed=format_long_date(lapses),
        confirmed=format_long_date(confirmed),
    )


@bp.app_template_global()
def field_label(name: str | None) -> str:
    """The plain-words name of a listing field."""
    return _(listings.FIELD_LABELS[name]) if name in listings.FIELD_LABELS else name or ""


HISTORY_ACTIONS = {
    "center.edit": N_("Edited the listing"),
    "center.capacity": N_("Updated capacity"),
    "center.confirm": N_("Confirmed the listing"),
}


@bp.app_template_global()
def history_action(action: str) -> str:
    """An audited action on a center, in words."""
    return _(HISTORY_ACTIONS[action]) if action in HISTORY_ACTIONS else action


@bp.app_template_global()
def report_reason(code: str) -> str:
    """A problem report's reason, in words."""
    return _(REPORT_REASONS[code]) if code in REPORT_REASONS else code


@bp.app_template_global()
def report_outcomes() -> dict[str, str]:
    """The ways to resolve a problem report: code -> button label."""
    return {code: _(label) for code, label in REPORT_OUTCOMES.items()}


CLAIM_STATUS_WORDS = {
    ClaimStatus.PENDING: N_("Waiting for an administrator"),
    ClaimStatus.APPROVED: N_("Approved"),
    ClaimStatus.REJECTED: N_("Not approved"),
}


@bp.get("/")
@roles_required(*PORTAL_ROLES)
def index() -> ResponseReturnValue:
    """The offers waiting for an answer (they expire), your centers with their listing status, open
    problem reports and capacity, your claims, and a search for listings."""
    return _index_page()


def _index_page() -> str:
    search = ListingSearchForm(formdata=request.args if request.args else None)
    found: list[Center] | None = None
    if request.args and search.validate():
        found = listings.find_listings(
            db.session,
            name=(search.name.data or "").strip(),
            state=search.state.data or "",
            zip_code=(search.zip.data or "").strip(),
        )
    claims = listings.claims_of(db.session, current_user)
    pending = {claim.center_id for claim in claims if claim.status == ClaimStatus.PENDING}
    centers = current_user.centers if current_user.role == Role.CENTER_STAFF else []
    now = utcnow()
    return render_template(
        "portal/index.html",
        waiting=waiting_offers(now),
        centers=centers,
        reported=reports.open_report_counts(db.session, [center.id for center in centers]),
        claims=claims,
        pending=pending,
        claim_status_words=CLAIM_STATUS_WORDS,
        search=search,
        found=found,
        now=now,
    )


@bp.route("/claims/new", methods=["GET", "POST"])
@roles_required(*PORTAL_ROLES)
def new_claim() -> ResponseReturnValue:
    """Ask to manage a listing (`?center=<id>`); an administrator decides."""
    center_id = as_id(request.args.get("center"))
    center = db.session.get(Center, center_id) if center_id is not None else None
    if center is None:
        abort(404)
    form = ClaimForm()
    refusal = None
    if current_user.manages(center):
        refusal = _("You already manage %(center)s.", center=center.name)
    elif current_user.role != Role.CENTER_STAFF:
        refusal = _("Only center staff accounts claim listings.")
    if refusal is None and form.validate_on_submit():
        try:
            listings.request_claim(db.session, current_user, center, form.message.data, now=utcnow())
        except listings.ListingError as error:
            db.session.rollback()
            form.form_errors.append(translate(error.message))
            return render_template("portal/claim.html", center=center, form=form), 409
        db.session.commit()
        flash(_("Thank you. An administrator will review your claim to manage %(center)s.", center=center.name))
        return redirect(url_for("portal.index"))
    status = 409 if refusal and request.method == "POST" else 400 if form.errors else 200
    return render_template("portal/claim.html", center=center, form=form, refusal=refusal), status


@bp.get("/centers/<int:center_id>/")
@roles_required(*PORTAL_ROLES)
def center(center_id: int) -> ResponseReturnValue:
    """One managed center: listing status, capacity, confirmation and links to edit and history."""
    return _center_page(managed_center_or_404(center_id))


def _center_page(managed: Center) -> str:
    open_reports = reports.open_report_counts(db.session, [managed.id]).get(managed.id, 0)
    return render_template("portal/center.html", center=managed, now=utcnow(), open_reports=open_reports)


@bp.route("/centers/<int:center_id>/edit", methods=["GET", "POST"])
@roles_required(*PORTAL_ROLES)
def edit_center(center_id: int) -> ResponseReturnValue:
    """Edit the listing's profile; a changed ZIP code moves the map point to that ZIP code's point."""
    managed = managed_center_or_404(center_id)
    if request.method == "GET":
        return render_template("portal/edit.html", center=managed, form=CenterEditForm.for_center(managed))
    form = CenterEditForm()
    if form.validate():
        try:
            edit = listings.apply_center_edit(
                db.session,
                managed,
                form.values,
                actor=current_user,
                now=utcnow(),
                geocoder=current_app.extensions["geocoder"],
            )
        except listings.ListingError as error:
            db.session.rollback()
            for name, messages in error.fields.items():
                form[name].errors = [*form[name].errors, *(translate(message) for message in messages)]
        else:
            db.session.commit()
            _flash_edit(edit)
            return redirect(url_for("portal.center", center_id=managed.id))
    return render_template("portal/edit.html", center=managed, form=form), 400


def _flash_edit(edit: listings.CenterEdit) -> None:
    if not edit.changes:
        flash(_("Nothing changed: the listing already said that."))
        return
    names = ", ".join(field_label(name) for name in edit.changes)
    flash(_("Saved. Changed: %(fields)s.", fields=names))
    if edit.location == "geocoded":
        flash(
            _(
                "The ZIP code changed, so the center's map point moved to ZIP code %(zip)s. "
                "To place it exactly, enter its latitude and longitude.",
                zip=edit.place_label,
            )
        )
    elif edit.location == "explicit":
        flash(_("The center's map point is now at the latitude and longitude you entered."))
    elif edit.kept_point:
        flash(
            _(
                "The ZIP code did not change, so the center's map point stayed where it was. "
                "If the center moved, enter its latitude and longitude to place it."
            )
        )


@bp.post("/centers/<int:center_id>/capacity")
@roles_required(*PORTAL_ROLES)
def update_capacity(center_id: int) -> ResponseReturnValue:
    """Accepting referrals yes or no, and beds available; back to the page the form was on (post/redirect/get).
    A refused update shows that page again (400), saying what was wrong."""
    managed = managed_center_or_404(center_id)
    form = CapacityForm()
    if not form.validate():
        flash(_("The capacity of %(center)s was not updated.", center=managed.name), "error")
        for message in form_errors(form):
            flash(message, "error")
        return _page_the_form_was_on(managed), 400
    changes = listings.update_capacity(db.session, managed, form.accepting, form.beds, actor=current_user, now=utcnow())
    db.session.commit()
    if changes:
        beds = _("not known") if managed.beds_available is None else str(managed.beds_available)
        accepting = _("accepting referrals") if managed.accepting_referrals else _("not accepting referrals")
        flash(
            _(
                "Capacity updated for %(center)s: %(accepting)s, beds available %(beds)s.",
                center=managed.name,
                accepting=accepting,
                beds=beds,
            )
        )
    else:
        flash(_("Capacity for %(center)s was already up to date.", center=managed.name))
    return redirect(_back_to(managed))


@bp.route("/centers/<int:center_id>/confirm", methods=["GET", "POST"])
@roles_required(*PORTAL_ROLES)
def confirm_listing(center_id: int) -> ResponseReturnValue:
    """ "This listing is accurate": shows as confirmed for the next 180 days. The page (the link of
    the mail asking centers to confirm) shows the listing's key facts to check first."""
    managed = managed_center_or_404(center_id)
    if request.method == "GET":
        open_reports = reports.open_reports(db.session, managed.id)
        return render_template("portal/confirm.html", center=managed, now=utcnow(), reports=open_reports)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    listings.confirm_listing(db.session, managed, actor=current_user, now=utcnow())
    db.session.commit()
    lapses = listings.confirmation_lapses_at(managed)
    assert lapses is not None
    flash(
        _(
            "Thank you: %(center)s shows as confirmed until %(until)s.",
            center=managed.name,
            until=format_long_date(lapses),
        )
    )
    return redirect(_back_to(managed))


@bp.get("/centers/<int:center_id>/history")
@roles_required(*PORTAL_ROLES)
def center_history(center_id: int) -> ResponseReturnValue:
    """Every change to the listing: who, when, which field, old and new value."""
    managed = managed_center_or_404(center_id)
    entries = listings.center_history(db.session, managed.id)
    return render_template("portal/history.html", center=managed, entries=entries)


def _back_to(center: Center) -> str:
    """Where a one-click form returns: the page it was on (this site only), or the center's page."""
    return safe_next_url(request.form.get("next"), url_for("portal.center", center_id=center.id))


def _page_the_form_was_on(center: Center) -> str:
    """The page a refused one-click form renders again: the portal home, or else the center's page."""
    if urlsplit(_back_to(center)).path == url_for("portal.index"):
        return _index_page()
    return _center_page(center)


@bp.get("/centers/<int:center_id>/reports")
@roles_required(*PORTAL_ROLES)
def center_reports(center_id: int) -> ResponseReturnValue:
    """The open problem reports on the listing, oldest first, each to resolve as fixed or not a problem."""
    managed = managed_center_or_404(center_id)
    open_reports = reports.open_reports(db.session, managed.id)
    return render_template("portal/reports.html", center=managed, reports=open_reports, form=ResolveReportForm())


@bp.post("/centers/<int:center_id>/reports/<int:report_id>/resolve")
@roles_required(*PORTAL_ROLES)
def resolve_report(center_id: int, report_id: int) -> ResponseReturnValue:
    """Close one of the listing's problem reports (audited)."""
    managed = managed_center_or_404(center_id)
    report = db.session.get(ListingReport, report_id)
    if report is None or report.center_id != managed.id:
        record_denied("not a report on this center", "listing_report", report_id)
        abort(404)
    resolve(report, current_user._get_current_object())  # type: ignore[attr-defined]
    return redirect(url_for("portal.center_reports", center_id=managed.id))


def resolve(report: ListingReport, actor: User) -> None:
    """Resolve a report as the posted `ResolveReportForm` says, and flash what happened (portal and admin)."""
    form = ResolveReportForm()
    if not form.validate():
        abort(400)
    try:
        reports.resolve_report(db.session, report, form.outcome.data, form.note.data, actor=actor, now=utcnow())
    except reports.ReportError as error:
        db.session.rollback()
        for message in error.fields.values():
            flash(" ".join(message), "error")
        return
    db.session.commit()
    outcome = _(REPORT_OUTCOMES[report.resolution]).lower() if report.resolution in REPORT_OUTCOMES else ""
    flash(
        _(
            "The report “%(reason)s” on %(center)s is resolved: %(outcome)s.",
            reason=report_reason(report.reason),
            center=report.center.name,
            outcome=outcome,
        )
    )
