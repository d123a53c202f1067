"""The center portal: centers keep their own listings, capacity and availability true."""

from flask import Blueprint

bp = Blueprint("portal", __name__)
