"""Public pages: search, results, center profiles and the naltrexone explainer."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from directory.public import helpers, views  # noqa: E402,F401
