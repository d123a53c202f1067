"""FHIR R4 views of referrals, at /fhir/r4."""

from flask import Blueprint

bp = Blueprint("fhir", __name__)
