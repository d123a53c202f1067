"""Administration: a dashboard, users and invitations, listing claims, problem reports, stale and
superseded listings, and the audit log (admins only)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from directory.accounts import service
from directory.accounts.service import INVITATION_LIFETIME, AccountError
from directory.admin import bp, decisions
from directory.admin.forms import AuditFilterForm, InviteForm
from directory.auth.links import send_invitation
from directory.extensions import db
from directory.models import AuditEvent, Center, ClaimStatus, Invitation, ListingClaim, ListingReport, Role, User
from directory.models.accounts import ROLE_LABELS
from directory.models.base import utcnow
from directory.portal.forms import ResolveReportForm
from directory.portal.views import resolve
from directory.security import roles_required
from directory.sources import supersession
from directory.sources.provenance import superseded_note
from directory.upkeep import exposure, reports

AUDIT_PAGE_SIZE = 50
STALE_PAGE_SIZE = 50
SUPERSEDED_PAGE_SIZE = 100
RECENT_EVENTS = 10
CENTER_MATCHES = 20


def me() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.app_template_global()
def role_label(role: str) -> str:
    """A role in words: "center_staff" -> "Center staff"."""
    try:
        return ROLE_LABELS[Role(role)]
    except ValueError:
        return role


def audit_events() -> Select[tuple[AuditEvent, str | None]]:
    """Audit events with their actor's email (None for the system), newest first."""
    return (
        select(AuditEvent, User.email)
        .outerjoin(User, AuditEvent.actor_id == User.id)
        .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
    )


@bp.get("/")
@roles_required("admin")
def index() -> ResponseReturnValue:
    """What needs attention: pending claims, accounts, and the latest changes."""
    by_role = dict(db.session.execute(select(User.role, func.count()).group_by(User.role)).all())
    return render_template(
        "admin/index.html",
        users_by_role={ROLE_LABELS[role]: by_role.get(role.value, 0) for role in Role},
        users_total=sum(by_role.values()),
        inactive_users=db.session.scalar(select(func.count()).select_from(User).where(User.active.is_(False))),
        pending_claims=db.session.scalar(
            select(func.count()).select_from(ListingClaim).where(ListingClaim.status == ClaimStatus.PENDING)
        ),
        open_reports=db.session.scalar(
            select(func.count()).select_from(ListingReport).where(ListingReport.resolved_at.is_(None))
        ),
        events=db.session.execute(audit_events().limit(RECENT_EVENTS)).all(),
    )


@bp.get("/users")
@roles_required("admin")
def users() -> ResponseReturnValue:
    """Every account, with the invitations still open."""
    invitations = db.session.scalars(
        select(Invitation)
        .where(Invitation.used_at.is_(None), Invitation.expires_at > utcnow())
        .order_by(Invitation.created_at.desc())
    )
    return render_template(
        "admin/users.html",
        users=db.session.scalars(select(User).order_by(User.email)).all(),
        invitations=invitations.all(),
    )


@bp.post("/users/<int:user_id>/deactivate")
@roles_required("admin")
def deactivate_user(user_id: int) -> ResponseReturnValue:
    """Stop an account from signing in, and end its sessions everywhere."""
    return set_active(user_id, False)


@bp.post("/users/<int:user_id>/activate")
@roles_required("admin")
def activate_user(user_id: int) -> ResponseReturnValue:
    return set_active(user_id, True)


def set_active(user_id: int, active: bool) -> ResponseReturnValue:
    user = db.session.get(User, user_id) or abort(404)
    try:
        decisions.set_active(db.session, user, active, me())
    except decisions.DecisionError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(f"{user.email} can sign in again." if active else f"{user.email} is deactivated and signed out.")
    return redirect(url_for("admin.users"))


@bp.route("/invitations/new", methods=["GET", "POST"])
@roles_required("admin")
def invite() -> ResponseReturnValue:
    """Invite a person by email with a role (and, for center staff, their centers)."""
    form = InviteForm()
    if form.validate_on_submit():
        try:
            invitation, token = service.create_invitation(
                db.session, form.email.data or "", form.role.data or "", form.centers.ids, invited_by=me()
            )
        except AccountError as error:
            db.session.rollback()
            form[error.field if error.field in form else "email"].errors.append(str(error))
        else:
            db.session.commit()
            names = center_names(db.session, invitation.center_ids)
            where = f" for {', '.join(names)}" if names else ""
            who = f"{invitation.email} as {role_label(invitation.role).lower()}{where}"
            if send_invitation(invitation, token):
                hours = int(INVITATION_LIFETIME.total_seconds() // 3600)
                flash(f"Invitation sent to {who}. The link works once, within {hours} hours.")
            else:
                flash(f"The invitation to {who} could not be mailed. Please try again later.", "error")
            return redirect(url_for("admin.invite"))
    find = request.args.get("find", "").strip()[:100]
    matches = []
    if find:
        by_name = select(Center).where(Center.name.icontains(find, autoescape=True))
        matches = db.session.scalars(by_name.order_by(Center.name).limit(CENTER_MATCHES)).all()
    chosen = center_names(db.session, getattr(form.centers, "ids", []))
    return render_template(
        "admin/invite.html", form=form, find=find, matches=matches, chosen=chosen
    ), 400 if form.errors else 200


def center_names(session: Session, ids: list[int]) -> list[str]:
    """The centers with these ids, as "Name (id 12)", by name."""
    if not ids:
        return []
    centers = session.scalars(select(Center).where(Center.id.in_(ids)).order_by(Center.name))
    return [f"{c.name}, {c.city}, {c.state} (id {c.id})" for c in centers]


@bp.get("/claims")
@roles_required("admin")
def claims() -> ResponseReturnValue:
    """Listing claims waiting for a decision, oldest first."""
    pending = db.session.scalars(
        select(ListingClaim).where(ListingClaim.status == ClaimStatus.PENDING).order_by(ListingClaim.created_at)
    )
    return render_template("admin/claims.html", claims=pending.all())


@bp.post("/claims/<int:claim_id>/approve")
@roles_required("admin")
def approve_claim(claim_id: int) -> ResponseReturnValue:
    return decide_claim(claim_id, decisions.approve_claim, "now manages")


@bp.post("/claims/<int:claim_id>/reject")
@roles_required("admin")
def reject_claim(claim_id: int) -> ResponseReturnValue:
    return decide_claim(claim_id, decisions.reject_claim, "was turned down for")


def decide_claim(claim_id: int, decide: Callable[..., None], outcome: str) -> ResponseReturnValue:
    claim = db.session.get(ListingClaim, claim_id) or abort(404)
    try:
        decide(db.session, claim, me())
    except decisions.DecisionError as error:
        flash(str(error), "error")
    else:
        db.session.commit()
        flash(f"{claim.user.email} {outcome} {claim.center.name}.")
    return redirect(url_for("admin.claims"))


@bp.get("/reports")
@roles_required("admin")
def listing_reports() -> ResponseReturnValue:
    """Every open problem report on a listing, oldest first."""
    return render_template(
        "admin/reports.html", reports=reports.open_reports(db.session), form=ResolveReportForm(formdata=None)
    )


@bp.post("/reports/<int:report_id>/resolve")
@roles_required("admin")
def resolve_report(report_id: int) -> ResponseReturnValue:
    """Close a problem report as fixed or not a problem (audited)."""
    report = db.session.get(ListingReport, report_id) or abort(404)
    resolve(report, me())
    return redirect(url_for("admin.listing_reports"))


@bp.get("/stale")
@roles_required("admin")
def stale_listings() -> ResponseReturnValue:
    """Listings not confirmed for 90 days, those people see most (profile views, referral offers) first."""
    page = request.args.get("page", "1")
    number = int(page) if page.isascii() and page.isdigit() and len(page) < 7 else 1
    found = exposure.stale_listings(db.session, now=utcnow(), page=number, per_page=STALE_PAGE_SIZE)
    return render_template("admin/stale.html", found=found, per_page=STALE_PAGE_SIZE)


@bp.get("/superseded")
@roles_required("admin")
def superseded() -> ResponseReturnValue:
    """Listings a newer source no longer has, by state and name: out of search and routing until restored."""
    listed = select(Center).where(Center.superseded_at.is_not(None))
    total = db.session.scalar(select(func.count()).select_from(listed.subquery())) or 0
    pages = max(1, -(-total // SUPERSEDED_PAGE_SIZE))
    page = min(max(request.args.get("page", 1, type=int) or 1, 1), pages)
    centers = db.session.scalars(
        listed.order_by(Center.state, Center.name, Center.id)
        .limit(SUPERSEDED_PAGE_SIZE)
        .offset((page - 1) * SUPERSEDED_PAGE_SIZE)
    ).all()
    notes = {
        c.id: superseded_note(c.superseded_by or "", c.superseded_by_date) for c in centers if c.superseded_by_date
    }
    return render_template("admin/superseded.html", centers=centers, notes=notes, page=page, pages=pages, total=total)


@bp.post("/superseded/<int:center_id>/restore")
@roles_required("admin")
def restore_listing(center_id: int) -> ResponseReturnValue:
    """Bring a superseded listing back to search and routing."""
    center = db.session.get(Center, center_id) or abort(404)
    if center.superseded_at is None:
        flash(f"{center.name} is not superseded: nothing to restore.", "error")
    else:
        supersession.restore(db.session, center, me())
        db.session.commit()
        flash(f"{center.name} is back in search and routing.")
    return redirect(url_for("admin.superseded"))


@bp.get("/audit")
@roles_required("admin")
def audit() -> ResponseReturnValue:
    """The audit log, newest first, filtered by record type and id and by who acted."""
    form = AuditFilterForm(formdata=request.args)
    if not form.validate():
        return render_template("admin/audit.html", form=form, events=[], page=1, pages=0, total=0, filters={}), 400
    filters = {
        name: value for name in ("entity_type", "entity_id", "actor") if (value := (form[name].data or "").strip())
    }
    query = audit_events()
    if "entity_type" in filters:
        query = query.where(AuditEvent.entity_type == filters["entity_type"].lower())
    if "entity_id" in filters:
        query = query.where(AuditEvent.entity_id == filters["entity_id"])
    if "actor" in filters:
        query = query.where(User.email.icontains(filters["actor"], autoescape=True))
    total = db.session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    pages = max(1, -(-total // AUDIT_PAGE_SIZE))
    page = min(form.page.data or 1, pages)
    events = db.session.execute(query.limit(AUDIT_PAGE_SIZE).offset((page - 1) * AUDIT_PAGE_SIZE)).all()
    return render_template(
        "admin/audit.html", form=form, events=events, page=page, pages=pages, total=total, filters=filters
    )


@bp.app_template_global()
def audit_url(filters: dict[str, Any], **changes: Any) -> str:
    """The audit page with these filters, some changed."""
    return url_for("admin.audit", **{**filters, **changes})
