"""Forms of the admin pages: invitations and the audit-log filter."""

from __future__ import annotations

import re

from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, SelectField, StringField
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from directory.models import Role
from directory.models.accounts import ROLE_LABELS
from directory.public.forms import choices
from directory.urls import as_id

#: The roles an administrator gives, in the order the form offers them.
ASSIGNABLE_ROLES = (Role.CENTER_STAFF, Role.REFERRAL_STAFF, Role.ADMIN)


class CenterIdsField(StringField):
    """Center ids separated by commas (or spaces); `data` is the text, `ids` the numbers."""

    ids: list[int]

    def pre_validate(self, form: object) -> None:
        self.ids = []
        parts = [part for part in re.split(r"[\s,]+", self.data or "") if part]
        wrong = [part for part in parts if as_id(part) is None]
        if wrong:
            what = "is not a center id" if len(wrong) == 1 else "are not center ids"
            raise ValidationError(
                f"{', '.join(map(repr, wrong))} {what}: "
                "enter the numbers shown by “Find a center's id”, separated by commas."
            )
        self.ids = sorted({int(part) for part in parts})


class InviteForm(FlaskForm):
    email = EmailField("Email address", validators=[InputRequired("Enter the address to send the invitation to.")])
    role = SelectField(
        "Role",
        choices=choices({role.value: ROLE_LABELS[role] for role in ASSIGNABLE_ROLES}),
        default=Role.CENTER_STAFF.value,
    )
    centers = CenterIdsField(
        "Center ids",
        description="For center staff only: the ids of the centers they will manage, separated by commas, e.g. 12, 40.",
    )


class AuditFilterForm(FlaskForm):
    """Which audit events to show (a GET form: it changes nothing)."""

    class Meta:
        csrf = False

    entity_type = StringField("Record type", validators=[Optional(), Length(max=40)], description="e.g. user, center")
    entity_id = StringField("Record id", validators=[Optional(), Length(max=60)])
    actor = StringField("Done by (email contains)", validators=[Optional(), Length(max=254)])
    page = IntegerField("Page", default=1, validators=[Optional(), NumberRange(min=1, message="Pages start at 1.")])
