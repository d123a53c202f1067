"""Public pages: search, results, center profiles and the naltrexone explainer."""

from flask import Blueprint

bp = Blueprint("public", __name__)
