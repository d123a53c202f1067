"""The JSON API, version 1."""

from flask import Blueprint

bp = Blueprint("api", __name__)

from directory.api import referrals, views  # noqa: E402,F401
