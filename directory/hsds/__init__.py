"""The read-only Open Referral HSDS 3.0 API, under /hsds/ (the mapping is directory/sources/hsds.py)."""

from flask import Blueprint

bp = Blueprint("hsds", __name__)
