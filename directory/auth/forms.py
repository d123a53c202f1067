"""Forms for signing in, passwords, invitations and API tokens."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, SelectChoice, SelectField, StringField
from wtforms.validators import AnyOf, EqualTo, InputRequired, Length

from directory.accounts.passwords import MIN_PASSWORD_LENGTH
from directory.i18n import LANGUAGES

NEW_PASSWORD_HINT = _l("At least %(n)s characters. A few unrelated words make a good one.", n=MIN_PASSWORD_LENGTH)


class LoginForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[InputRequired(_l("Enter your email address."))])
    password = PasswordField(_l("Password"), validators=[InputRequired(_l("Enter your password."))])
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Email address"), validators=[InputRequired(_l("Enter your email address."))])


class NewPasswordForm(FlaskForm):
    """A new password, typed twice (password resets and invitations)."""

    password = PasswordField(
        _l("New password"), validators=[InputRequired(_l("Enter a new password."))], description=NEW_PASSWORD_HINT
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            InputRequired(_l("Enter the new password again.")),
            EqualTo("password", _l("The passwords do not match.")),
        ],
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField(
        _l("Current password"), validators=[InputRequired(_l("Enter your current password."))]
    )
    new_password = PasswordField(
        _l("New password"), validators=[InputRequired(_l("Enter a new password."))], description=NEW_PASSWORD_HINT
    )
    confirm = PasswordField(
        _l("New password again"),
        validators=[
            InputRequired(_l("Enter the new password again.")),
            EqualTo("new_password", _l("The passwords do not match.")),
        ],
    )


class ApiTokenForm(FlaskForm):
    name = StringField(
        _l("Token name"),
        validators=[
            InputRequired(_l("Name the token, e.g. after the program that will use it.")),
            Length(max=100, message=_l("Keep the name to %(n)s characters.", n=100)),
        ],
        description=_l("So you can tell your tokens apart, e.g. “intake spreadsheet”."),
    )


class LanguageForm(FlaskForm):
    """The account's language: the mail the directory sends the person is written in it."""

    language = SelectField(
        _l("Language"),
        choices=[SelectChoice(code, name, render_kw={"lang": code}) for code, name in LANGUAGES.items()],
        validate_choice=False,  # AnyOf says what is accepted, in the catalogue's words
        validators=[
            InputRequired(_l("Choose a language.")),
            AnyOf(LANGUAGES, message=_l("Choose English or Español.")),
        ],
        description=_l("New referral offers, reminders and requests to confirm a listing reach you in this language."),
    )
    #: The page to return to, in the language picked (the language switch's); else the account page.
    next = HiddenField()
