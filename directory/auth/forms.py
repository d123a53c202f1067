"""Forms for signing in, passwords, invitations and API tokens."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import EqualTo, InputRequired, Length

from directory.accounts.passwords import MIN_PASSWORD_LENGTH

NEW_PASSWORD_HINT = f"At least {MIN_PASSWORD_LENGTH} characters. A few unrelated words make a good one."


class LoginForm(FlaskForm):
    email = EmailField("Email address", validators=[InputRequired("Enter your email address.")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])
    next = HiddenField()


class ForgotPasswordForm(FlaskForm):
    email = EmailField("Email address", validators=[InputRequired("Enter your email address.")])


class NewPasswordForm(FlaskForm):
    """A new password, typed twice (password resets and invitations)."""

    password = PasswordField(
        "New password", validators=[InputRequired("Enter a new password.")], description=NEW_PASSWORD_HINT
    )
    confirm = PasswordField(
        "New password again",
        validators=[InputRequired("Enter the new password again."), EqualTo("password", "The passwords do not match.")],
    )


class ChangePasswordForm(FlaskForm):
    current_password = PasswordField("Current password", validators=[InputRequired("Enter your current password.")])
    new_password = PasswordField(
        "New password", validators=[InputRequired("Enter a new password.")], description=NEW_PASSWORD_HINT
    )
    confirm = PasswordField(
        "New password again",
        validators=[
            InputRequired("Enter the new password again."),
            EqualTo("new_password", "The passwords do not match."),
        ],
    )


class ApiTokenForm(FlaskForm):
    name = StringField(
        "Token name",
        validators=[InputRequired("Name the token, e.g. after the program that will use it."), Length(max=100)],
        description="So you can tell your tokens apart, e.g. “intake spreadsheet”.",
    )
