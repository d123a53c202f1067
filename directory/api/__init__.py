"""The JSON API, version 1."""

from flask import Blueprint

bp = Blueprint("api", __name__)
