"""Signing in and out, password resets, invitations and the account page: thin views over accounts.service."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from flask import abort, flash, redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy import select

from directory.accounts import service
from directory.accounts.service import AccountError
from directory.auth import bp
from directory.auth.forms import (
    ApiTokenForm,
    ChangePasswordForm,
    ForgotPasswordForm,
    LanguageForm,
    LoginForm,
    NewPasswordForm,
)
from directory.auth.links import send_password_reset
from directory.auth.throttle import submitted_email, throttle_sign_ins
from directory.extensions import db, limiter
from directory.i18n import LANGUAGES, LOCALES, page_language, translate
from directory.models import ApiToken, Center, Role, User
from directory.models.accounts import ROLE_LABELS
from directory.security import record_denied, safe_next_url
from directory.translatable import N_

#: The one answer to a failed sign-in, so it never tells whether an account exists.
LOGIN_FAILED = N_("Email or password is incorrect.")


@bp.app_template_filter("datetime")
def format_datetime(moment: datetime | str, zone: str = "UTC") -> str:
    """A stored (UTC) time, or the API's text of one ("2026-03-03T14:05:00Z"), as "2026-03-03 14:05 UTC";
    with an IANA `zone`, as the clocks there showed it ("2026-03-03 09:05 EST")."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone(ZoneInfo(zone))
    return f"{local:%Y-%m-%d %H:%M} {'UTC' if zone == 'UTC' else local.tzname()}"


def home_for(user: User) -> str:
    """Where a person lands after signing in, by role."""
    if user.has_role(Role.ADMIN):
        return url_for("admin.index")
    if user.has_role(Role.CENTER_STAFF):
        return url_for("portal.index")
    return url_for("staff.referrals")  # referral staff


def sign_in(user: User) -> None:
    """Start a fresh session for the user: nothing put in the session before sign-in survives it."""
    session.clear()
    login_user(user)


def me() -> User:
    """The signed-in user itself (not the proxy), to hand to the account service."""
    return current_user._get_current_object()  # type: ignore[attr-defined]


@bp.route("/login", methods=["GET", "POST"])
@throttle_sign_ins
def login() -> ResponseReturnValue:
    """The sign-in form; on success, the page asked for (on this site) or the role's home.
    How many attempts an address and an account get: directory/auth/throttle.py."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        if current_user.is_authenticated:
            return redirect(safe_next_url(form.next.data, home_for(current_user)))
    error = None
    if form.validate_on_submit():
        user = service.authenticate(db.session, form.email.data or "", form.password.data or "")
        if user is not None:
            db.session.commit()
            target = safe_next_url(form.next.data, home_for(user))
            sign_in(user)
            return redirect(target)
        error = _(LOGIN_FAILED)
    status = 400 if request.method == "POST" else 200
    return render_template(
        "auth/login.html",
        form=form,
        error=error,
        idle=request.args.get("idle") == "1",
        expired=request.args.get("expired") == "1",
    ), status


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """Sign out here and on every other device: each copy of the session cookie stops working."""
    if current_user.is_authenticated:
        service.sign_out_everywhere(me())
        db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have signed out."))
    return redirect(url_for("auth.login"))


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"])
@limiter.limit("5 per hour", key_func=submitted_email, methods=["POST"])
def forgot_password() -> ResponseReturnValue:
    """Ask for a reset link; the answer is the same whether or not the address has an account."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        started = service.start_password_reset(db.session, form.email.data or "")
        db.session.commit()
        if started is not None:
            send_password_reset(*started)
        return render_template("auth/forgot_password_sent.html")
    return render_template("auth/forgot_password.html", form=form), 400 if form.errors else 200


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def reset_password(token: str) -> ResponseReturnValue:
    """Choose a new password from a reset link; then sign in with it. A link that is unknown,
    used or expired says so before anyone types a password into it."""
    try:
        service.find_password_reset(db.session, token)
    except AccountError as error:
        return link_not_valid(_("This password reset link cannot be used"), translate(error.message))
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            service.reset_password(db.session, token, form.password.data or "")
        except AccountError as error:
            db.session.rollback()
            if error.field is None:
                return link_not_valid(_("This password reset link cannot be used"), translate(error.message))
            form.password.errors.append(translate(error.message))
        else:
            db.session.commit()
            logout_user()
            session.clear()
            flash(
                _(
                    "Your password has been changed and your API tokens have been revoked. "
                    "Sign in with your new password."
                )
            )
            return redirect(url_for("auth.login"))
    return render_template("auth/reset_password.html", form=form), 400 if form.errors else 200


@bp.route("/invitations/<token>", methods=["GET", "POST"])
@limiter.limit("10 per minute", methods=["POST"])
def accept_invitation(token: str) -> ResponseReturnValue:
    """Finish an invited account: show who it is for, ask for a password twice, then sign in."""
    try:
        invitation = service.find_invitation(db.session, token)
    except AccountError as error:
        return link_not_valid(_("This invitation cannot be used"), translate(error.message))
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            user = service.accept_invitation(db.session, token, form.password.data or "")
        except AccountError as error:
            db.session.rollback()
            form.password.errors.append(translate(error.message))
        else:
            db.session.commit()
            sign_in(user)
            return redirect(home_for(user))
    centers = db.session.scalars(select(Center).where(Center.id.in_(invitation.center_ids)).order_by(Center.name))
    return render_template(
        "auth/accept_invitation.html",
        form=form,
        invitation=invitation,
        role=_(ROLE_LABELS[Role(invitation.role)]),
        centers=list(centers),
    ), 400 if form.errors else 200


def link_not_valid(title: str, message: str) -> ResponseReturnValue:
    return render_template("auth/link_not_valid.html", title=title, message=message), 410


@bp.get("/account")
@login_required
def account() -> ResponseReturnValue:
    """Who you are, your centers, the language of your email, your password and your API tokens."""
    return account_page()


def account_page(
    password_form: ChangePasswordForm | None = None,
    token_form: ApiTokenForm | None = None,
    language_form: LanguageForm | None = None,
    status: int = 200,
) -> ResponseReturnValue:
    tokens = db.session.scalars(
        select(ApiToken).where(ApiToken.user_id == current_user.id).order_by(ApiToken.id.desc())
    )
    return render_template(
        "auth/account.html",
        role=_(ROLE_LABELS[Role(current_user.role)]),
        password_form=password_form or ChangePasswordForm(formdata=None),
        token_form=token_form or ApiTokenForm(formdata=None),
        language_form=language_form or LanguageForm(formdata=None, language=current_user.language or page_language()),
        tokens=list(tokens),
    ), status


@bp.post("/account/language")
@login_required
def change_language() -> ResponseReturnValue:
    """Set the language of your email (the account page's form, and the language switch while signed
    in); the page it returns to (`next`, else the account page) follows in it."""
    form = LanguageForm()
    if not form.validate_on_submit():
        return account_page(language_form=form, status=400)
    code = form.language.data or ""
    if service.set_language(db.session, me(), code):
        db.session.commit()
    with force_locale(LOCALES[code]):  # as the page it leads to
        flash(_("Email from the directory reaches you in %(language)s.", language=LANGUAGES[code]))
    return redirect(safe_next_url(form.next.data, url_for("auth.account", lang=code)))


@bp.post("/account/password")
@limiter.limit("10 per minute")
@login_required
def change_password() -> ResponseReturnValue:
    """Change your password; every other session of yours is signed out, this one continues, and
    your API tokens are revoked."""
    form = ChangePasswordForm()
    if form.validate_on_submit():
        user = me()
        try:
            service.change_password(db.session, user, form.current_password.data or "", form.new_password.data or "")
        except AccountError as error:
            db.session.rollback()
            form[error.field or "new_password"].errors.append(translate(error.message))
        else:
            db.session.commit()
            sign_in(user)  # with the new session version
            flash(
                _(
                    "Your password has been changed. Any other sessions of yours have been signed out, and your "
                    "API tokens have been revoked: programs using them need a new token."
                )
            )
            return redirect(url_for("auth.account"))
    return account_page(password_form=form, status=400)


@bp.post("/account/api-tokens")
@limiter.limit("20 per hour")
@login_required
def create_api_token() -> ResponseReturnValue:
    """A new API token, shown once in this response (never in a URL, a cookie or a log)."""
    form = ApiTokenForm()
    if not form.validate_on_submit():
        return account_page(token_form=form, status=400)
    api_token, token = service.issue_api_token(db.session, me(), form.name.data or "")
    db.session.commit()
    return render_template("auth/api_token_created.html", api_token=api_token, token=token), 201


@bp.post("/account/api-tokens/<int:token_id>/revoke")
@login_required
def revoke_api_token(token_id: int) -> ResponseReturnValue:
    """Revoke one of your own API tokens; other people's are not found."""
    api_token = db.session.get(ApiToken, token_id)
    if api_token is None or api_token.user_id != current_user.id:
        if api_token is not None:
            record_denied("not the owner of this API token", "api_token", token_id)
        abort(404)
    service.revoke_api_token(db.session, api_token, me())
    db.session.commit()
    flash(_("The token “%(name)s” has been revoked: programs using it can no longer sign in.", name=api_token.name))
    return redirect(url_for("auth.account"))
