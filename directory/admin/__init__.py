"""Administration: users and invitations, listing claims, the audit log."""

from flask import Blueprint

bp = Blueprint("admin", __name__)
