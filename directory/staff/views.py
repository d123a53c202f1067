"""Views of the referral staff pages: thin wrappers over `directory.referrals`.

Referral staff see only the referrals they made (others get a 404, and the attempt is
logged); administrators see all. Every look at a referral is written to the audit log.
"""

from __future__ import annotations

import csv
import io
from typing import Any
from zoneinfo import ZoneInfo

from flask import Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from directory.accounts import audit
from directory.extensions import db
from directory.i18n import translate
from directory.models import Center, Referral, ReferralStatus, Role, User
from directory.models.base import utcnow
from directory.referrals import outcomes, service
from directory.referrals.dispatch import escalate_after, offering, submit_and_send
from directory.referrals.intake import IntakeInvalid, validate_intake
from directory.referrals.presenters import plan_messages, referral_view
from directory.routing.rules import (
    FLAG_CONFIRM_OPIOID_FREE,
    FLAG_LIVER_TESTS,
    FLAG_OVERDOSE_RISK,
    explain_earliest_start,
)
from directory.security import record_denied, roles_required
from directory.staff import bp, charts
from directory.staff.forms import (
    CALL_OUTCOME_LABELS,
    INTERACTING_MEDICATION_LABELS,
    OPIOID_LABELS,
    USE_DISORDER_LABELS,
    CallForm,
    CancelForm,
    IntakeForm,
    RevokeConsentForm,
)
from directory.translatable import N_
from directory.vocabulary import STATES

STAFF_ROLES = ("referral_staff", "admin")

REFERRAL_STATUS_WORDS = {
    "received": N_("Received"),
    "routing": N_("Being routed"),
    "offered": N_("Offered to a detox center"),
    "accepted": N_("Accepted for detox"),
    "in_progress": N_("In treatment"),
    "completed": N_("Completed"),
    "unplaced": N_("Not placed"),
    "needs_review": N_("Needs review"),
    "cancelled": N_("Cancelled"),
}

OFFER_STATUS_WORDS = {
    "planned": N_("Not offered yet"),
    "offered": N_("Waiting for an answer"),
    "accepted": N_("Accepted"),
    "declined": N_("Declined"),
    "expired": N_("Expired (no answer in time)"),
    "withdrawn": N_("Withdrawn"),
    "admitted": N_("Admitted"),
    "no_show": N_("Did not arrive"),
    "completed": N_("Completed"),
}

NEXT_STEPS = {
    "received": N_("Wait: the plan is being made."),
    "routing": N_("Wait: the plan is being made."),
    "offered": N_("Wait for the detox center to answer."),
    "accepted": N_("Help the person get to detox on the admission date."),
    "in_progress": N_("Follow up with the centers."),
    "completed": N_("None."),
    "unplaced": N_("Call the partial matches, or refer again with a wider distance."),
    "needs_review": N_("A clinician should review this referral."),
    "cancelled": N_("None."),
}

#: The next step of an unplaced referral whose plan lists no partial match to call.
UNPLACED_WITHOUT_MATCHES = N_("No center comes close within this distance: refer again with a wider distance.")

STEP_WORDS = {"detox": N_("Medical detox"), "naltrexone": N_("Naltrexone program")}

ESCALATION_WORDS = {
    "waiting": N_("Not accepted in time"),
    "unplaced": N_("Not placed"),
    "needs_review": N_("Needs review"),
}


@bp.app_template_global()
def next_step(referral: Referral) -> str:
    """What the sender does next about the referral, in the page's language (the partial matches to call,
    only when its plan lists some)."""
    if referral.status == ReferralStatus.UNPLACED and not (referral.plan or {}).get("partial_matches"):
        return _(UNPLACED_WITHOUT_MATCHES)
    return _(NEXT_STEPS[referral.status]) if referral.status in NEXT_STEPS else ""


@bp.app_template_global()
def referral_status_words(status: str) -> str:
    """A referral's status in plain words."""
    return _(REFERRAL_STATUS_WORDS[status]) if status in REFERRAL_STATUS_WORDS else status


@bp.app_template_global()
def offer_status_words(status: str) -> str:
    """An offer's status in plain words."""
    return _(OFFER_STATUS_WORDS[status]) if status in OFFER_STATUS_WORDS else status


@bp.app_template_global()
def step_words(step: str) -> str:
    return _(STEP_WORDS[step]) if step in STEP_WORDS else step


@bp.app_template_global()
def opioid_words(code: str) -> str:
    """A primary opioid's code in words, e.g. "heroin" -> "Heroin"."""
    return str(OPIOID_LABELS.get(code, code))


@bp.app_template_global()
def use_disorder_words(codes: list[str]) -> str:
    """What a referral is for, in words, e.g. "Alcohol use disorder and opioid use disorder"."""
    words = [str(USE_DISORDER_LABELS.get(code, code)) for code in codes]
    if not words:
        return _("Not given")
    if len(words) == 1:
        return words[0]
    return _("%(first)s and %(second)s", first=words[0], second=words[1].lower())


@bp.app_template_global()
def flag_words(flag: str) -> str:
    """A routing plan's flag for clinicians in plain words, e.g. "Interaction: alcohol"."""
    if flag == FLAG_LIVER_TESTS:
        return _("Baseline liver tests required")
    if flag == FLAG_OVERDOSE_RISK:
        return _(
            "Overdose risk after detox: tolerance is lower after detox and while on naltrexone, "
            "so discharge with naloxone and overdose education"
        )
    if flag == FLAG_CONFIRM_OPIOID_FREE:
        return _(
            "Opioid use in the last 10 days not ruled out, and when not known: "
            "confirm the person is opioid-free before starting naltrexone"
        )
    kind, _sep, name = flag.partition(":")
    if kind == "interaction":
        return _("Interaction: %(medicine)s", medicine=str(INTERACTING_MEDICATION_LABELS.get(name, name)).lower())
    return flag.replace("_", " ")


@bp.app_template_global()
def plan_texts(texts: list[str], messages: dict[str, Any] | None = None) -> str:
    """Texts of a plan (e.g. what a partial match misses) in the page's language, joined with "; ";
    stored texts with values translated from `messages` (`presenters.plan_messages`)."""
    return "; ".join(translate(text, messages) for text in texts)


@bp.app_template_global()
def timeline_words(status: str) -> str:
    """A timeline entry's status ("offer:detox:accepted") in plain words ("Detox offer: accepted")."""
    parts = status.split(":")
    if parts[0] == "offer" and len(parts) == 3:
        return _("%(step)s offer: %(status)s", step=step_words(parts[1]), status=offer_status_words(parts[2]).lower())
    if parts[0] == "call" and len(parts) == 3:
        outcome = str(CALL_OUTCOME_LABELS.get(parts[2], parts[2])).lower()
        return _("%(step)s phone call: %(outcome)s", step=step_words(parts[1]), outcome=outcome)
    if parts[0] == "referral" and len(parts) == 2:
        return _("Referral: %(status)s", status=referral_status_words(parts[1]).lower())
    return status


def _actor() -> User:
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.route("/new", methods=["GET", "POST"])
@roles_required(*STAFF_ROLES)
def new_referral() -> ResponseReturnValue:
    """The intake form: checked by the same rules as the API; a valid referral is routed at once."""
    now = utcnow()
    if request.method == "GET":
        return render_template("staff/new.html", form=IntakeForm.blank(now.date()))
    form = IntakeForm()
    duplicate_of = None
    if form.validate():
        try:
            intake = validate_intake(form.intake_data(), current_app.extensions["geocoder"], now)
            referral = submit_and_send(intake, _actor(), allow_duplicate=bool(form.send_anyway.data))
        except IntakeInvalid as error:
            form.attach(error)
        except service.DuplicateReferral as duplicate:
            form.client_reference.errors = [*form.client_reference.errors, translate(duplicate.message)]
            duplicate_of = duplicate.existing_id
        else:
            flash(_("Referral %(reference)s received.", reference=referral.client_reference))
            return redirect(url_for("staff.referral", referral_id=referral.id))
    return render_template("staff/new.html", form=form, duplicate_of=duplicate_of), 400


@bp.get("/")
@roles_required(*STAFF_ROLES)
def referrals() -> ResponseReturnValue:
    """Your referrals, newest first (administrators: everyone's)."""
    stmt = select(Referral).order_by(Referral.created_at.desc(), Referral.id)
    if not current_user.has_role(Role.ADMIN):
        stmt = stmt.where(Referral.created_by_id == current_user.id)
    return render_template("staff/referrals.html", referrals=list(db.session.scalars(stmt.limit(500))))


def _referral_or_404(referral_id: str) -> Referral:
    """The referral, if the signed-in user made it or is an administrator; otherwise 404 (logged)."""
    referral = db.session.get(Referral, referral_id)
    if referral is None:
        abort(404)
    if not current_user.has_role(Role.ADMIN) and referral.created_by_id != current_user.id:
        record_denied("not the referral's creator", "referral", referral_id)
        abort(404)
    return referral


def _profile_slugs(view: dict[str, Any]) -> dict[int, str]:
    """The public profile slug of every center the referral's plan and offers name, by center id."""
    plan = view["plan"]
    steps = [plan["detox"], plan["naltrexone_program"], *plan["partial_matches"], *view["offers"]]
    ids = {step["center_id"] for step in steps if step}
    rows = db.session.execute(select(Center.id, Center.slug).where(Center.id.in_(ids)))
    return {center_id: slug for center_id, slug in rows}


def _referral_page(referral: Referral, status: int = 200, **forms: Any) -> ResponseReturnValue:
    audit.record(db.session, _actor(), "referral.view", "referral", referral.id)
    db.session.commit()
    view = referral_view(referral)
    earliest = None
    if view["plan"]["earliest_naltrexone_start"] and referral.last_opioid_use:
        earliest = explain_earliest_start(
            referral.last_opioid_use, referral.primary_opioid or "unknown", ZoneInfo(referral.time_zone)
        )
    page = render_template(
        "staff/referral.html",
        referral=referral,
        view=view,
        earliest_start_explained=earliest,
        plan_messages=plan_messages(referral),
        profile_slugs=_profile_slugs(view),
        cancel_form=forms.get("cancel_form") or CancelForm(formdata=None),
        revoke_form=RevokeConsentForm(formdata=None),
        open_statuses=("received", "routing", "offered", "accepted", "in_progress", "unplaced", "needs_review"),
    )
    return page, status


@bp.get("/<referral_id>")
@roles_required(*STAFF_ROLES)
def referral(referral_id: str) -> ResponseReturnValue:
    """One referral: status, the plan, offers and the timeline."""
    return _referral_page(_referral_or_404(referral_id))


@bp.post("/<referral_id>/cancel")
@roles_required(*STAFF_ROLES)
def cancel(referral_id: str) -> ResponseReturnValue:
    """Stop routing and withdraw the open offers."""
    found = _referral_or_404(referral_id)
    form = CancelForm()
    if not form.validate():
        return _referral_page(found, 400, cancel_form=form)
    try:
        service.cancel_referral(db.session, found.id, _actor(), form.reason.data or "")
    except service.ReferralError as error:
        db.session.rollback()
        flash(translate(error.message), "error")
        return _referral_page(db.session.get(Referral, referral_id), 409)  # type: ignore[arg-type]
    flash(_("Referral cancelled; open offers were withdrawn."))
    return redirect(url_for("staff.referral", referral_id=found.id))


@bp.post("/<referral_id>/consent/revoke")
@roles_required(*STAFF_ROLES)
def revoke_consent(referral_id: str) -> ResponseReturnValue:
    """The person revoked consent: routing stops and open offers are withdrawn."""
    found = _referral_or_404(referral_id)
    if not RevokeConsentForm().validate():
        abort(400)
    if found.consent_revoked_at is not None:
        flash(_("Consent was already revoked."), "error")
        return _referral_page(found, 409)
    service.revoke_consent(db.session, found.id, _actor())
    flash(_("Consent revoked: routing stopped and open offers were withdrawn."))
    return redirect(url_for("staff.referral", referral_id=found.id))


def _sender_filter() -> int | None:
    """Whose referrals a queue shows: the signed-in sender's own; an administrator's, everyone's."""
    return None if current_user.has_role(Role.ADMIN) else current_user.id


@bp.get("/needs-a-person")
@roles_required(*STAFF_ROLES)
def needs_a_person() -> ResponseReturnValue:
    """Referrals to follow up by phone: not accepted in time, not placed, or needing review; with whom to call."""
    escalations = service.needs_a_person(db.session, escalate_after=escalate_after(), sender_id=_sender_filter())
    for escalation in escalations:
        audit.record(db.session, _actor(), "referral.view", "referral", escalation.referral.id, detail="needs a person")
    db.session.commit()
    return render_template(
        "staff/needs_a_person.html",
        escalations=escalations,
        reasons=ESCALATION_WORDS,
        minutes=escalate_after(),
        plan_messages=plan_messages(*(escalation.referral for escalation in escalations)),
    )


def _call_page(referral: Referral, form: CallForm, status: int = 200) -> ResponseReturnValue:
    step, targets = service.call_targets(db.session, referral)
    form.target.choices = [(_target_key(t), _target_label(t)) for t in targets]
    audit.record(db.session, _actor(), "referral.view", "referral", referral.id, detail="calls")
    db.session.commit()
    page = render_template(
        "staff/calls.html",
        referral=referral,
        step=step,
        targets=targets,
        form=form,
        plan_messages=plan_messages(referral),
    )
    return page, status


def _target_key(target: service.CallTarget) -> str:
    return f"offer:{target.offer_id}" if target.offer_id is not None else f"center:{target.center_id}"


def _target_label(target: service.CallTarget) -> str:
    how = _("offered, waiting for an answer") if target.offer_id is not None else _("not offered yet")
    return _("%(name)s (%(phone)s; %(how)s)", name=target.name, phone=target.phone or _("no phone listed"), how=how)


@bp.route("/<referral_id>/calls", methods=["GET", "POST"])
@roles_required(*STAFF_ROLES)
def record_call(referral_id: str) -> ResponseReturnValue:
    """The centers to call about a referral, and the form to record what one said: accepted (with the
    admission date) or declined moves the referral on as an answer in the portal would."""
    found = _referral_or_404(referral_id)
    if request.method == "GET":
        return _call_page(found, CallForm(formdata=None))
    form = CallForm()
    _step, targets = service.call_targets(db.session, found)
    form.target.choices = [(_target_key(t), _target_label(t)) for t in targets]
    if not form.validate():
        return _call_page(found, form, 400)
    kind, _sep, number = (form.target.data or "").partition(":")
    try:
        service.record_call(
            db.session, found.id, _actor(), form.outcome.data or "",
            offer_id=int(number) if kind == "offer" else None,
            center_id=int(number) if kind == "center" else None,
            admission_date=form.admission_date.data, reason=form.reason.data or "", offering=offering(),
        )  # fmt: skip
    except service.InvalidAnswer as error:
        db.session.rollback()
        form[error.field].errors = [*form[error.field].errors, translate(error.message)]
        return _call_page(db.session.get(Referral, referral_id), form, 400)  # type: ignore[arg-type]
    except service.ReferralError as error:
        db.session.rollback()
        flash(translate(error.message), "error")
        return _call_page(db.session.get(Referral, referral_id), CallForm(formdata=None), 409)  # type: ignore[arg-type]
    flash(_("Call recorded: %(outcome)s.", outcome=str(CALL_OUTCOME_LABELS[form.outcome.data or "no_answer"]).lower()))
    return redirect(url_for("staff.record_call", referral_id=found.id))


OUTCOME_WORDS = {
    "placed": N_("Placed"),
    "open": N_("Still being routed"),
    "unplaced": N_("Not placed"),
    "needs_review": N_("Needs review"),
    "cancelled": N_("Cancelled"),
}
MEASURE_WORDS = {
    "first_offer": N_("Time to the first offer"),
    "first_answer": N_("Time to a center's first answer"),
    "acceptance": N_("Time to acceptance by a detox center"),
    "admission": N_("Days to the admission date"),
}
ACCEPTANCE_BIN_WORDS = (
    N_("15 min or less"),
    N_("15 min to 1 h"),
    N_("1 to 4 h"),
    N_("4 to 24 h"),
    N_("1 to 3 days"),
    N_("Over 3 days"),
)


@bp.app_template_filter("duration")
def format_duration(seconds: float | None) -> str:
    """A time as a person reads it at a glance: "12 min", "3.5 h", "2.1 days"; "–" for none."""
    if seconds is None:
        return "–"
    if seconds < 3600:
        return _("%(n)s min", n=f"{seconds / 60:.0f}")
    if seconds < 48 * 3600:
        return _("%(n)s h", n=f"{seconds / 3600:.1f}")
    return _("%(n)s days", n=f"{seconds / 86400:.1f}")


@bp.app_template_filter("days")
def format_days(days: float | None) -> str:
    """A number of days in words: "1 day", "2.5 days"; "–" for none."""
    if days is None:
        return "–"
    return _("1 day") if days == 1 else _("%(n)s days", n=f"{days:g}")


def _outcomes() -> outcomes.Outcomes:
    """The signed-in user's figures: their own referrals; an administrator's, everyone's."""
    return outcomes.referral_outcomes(db.session, utcnow(), sender_id=_sender_filter())


@bp.get("/outcomes")
@roles_required(*STAFF_ROLES)
def referral_outcomes() -> ResponseReturnValue:
    """How referrals fare, in aggregate only: times to an offer, an answer, acceptance and admission;
    weekly volume by outcome; declines by reason; unplaced referrals by state."""
    figures = _outcomes()
    this_week, last_week = figures.this_week, figures.last_week
    distribution = [
        (_("Last week (%(week)s)", week=last_week), figures.acceptance_distribution(last_week)),
        (_("This week (%(week)s)", week=this_week), figures.acceptance_distribution(this_week)),
    ]
    volume = [(_(OUTCOME_WORDS[o]), [figures.volume[w][o] for w in figures.weeks]) for o in outcomes.OUTCOMES]
    totals = figures.volume_totals()
    volume_summary = _(
        "%(n)s referrals in %(weeks)s weeks: %(outcomes)s",
        n=sum(totals.values()),
        weeks=len(figures.weeks),
        outcomes=", ".join(f"{_(OUTCOME_WORDS[o]).lower()} {totals[o]}" for o in outcomes.OUTCOMES),
    )
    other = outcomes.OTHER_REASONS
    declines = [(_(reason) if reason == other else reason, n) for reason, n in figures.decline_totals()]
    unplaced = [(STATES.get(state) or _(state), count) for state, count in figures.unplaced_totals()]
    return render_template(
        "staff/outcomes.html",
        figures=figures,
        measures={measure: _(words) for measure, words in MEASURE_WORDS.items()},
        bins=[_(words) for words in ACCEPTANCE_BIN_WORDS],
        distribution=distribution,
        distribution_chart=charts.column_chart([(_(b), _(b)) for b in ACCEPTANCE_BIN_WORDS], distribution),
        volume=volume,
        volume_summary=volume_summary + ".",
        volume_chart=charts.column_chart([(w, w[-3:]) for w in figures.weeks], volume, stacked=True),
        declines=declines,
        declines_chart=charts.bar_list(declines),
        unplaced=unplaced,
        unplaced_chart=charts.bar_list(unplaced),
        min_named=outcomes.MIN_NAMED_DECLINES,
    )


@bp.get("/outcomes.csv")
@roles_required(*STAFF_ROLES)
def referral_outcomes_csv() -> ResponseReturnValue:
    """The outcomes page's figures, one a row: week, metric, group, value."""
    figures = _outcomes()
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(("week", "metric", "group", "value"))
    writer.writerows((week, metric, _spreadsheet_safe(group), value) for week, metric, group, value in figures.rows())
    filename = f"referral-outcomes-{figures.this_week}.csv"
    return Response(
        buffer.getvalue(), mimetype="text/csv", headers={"Content-Disposition": f'attachment; filename="{filename}"'}
    )


def _spreadsheet_safe(text: str) -> str:
    """A cell a spreadsheet shows as text: a decline reason typed as "=..." must not run as a formula."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
