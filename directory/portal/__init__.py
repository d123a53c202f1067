"""The center portal: centers keep their own listings, capacity and availability true."""

from flask import Blueprint

bp = Blueprint("portal", __name__)

from directory.portal import offers, views  # noqa: E402,F401
