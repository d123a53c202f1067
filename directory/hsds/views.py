"""HSDS API views: thin wrappers that check parameters and call directory/sources/hsds_pages.py.

`openapi.json` beside this module is Open Referral's reference API document for HSDS 3.0
(CC BY-SA 4.0, `openapi.json.LICENSE`), served with its `info` and `servers` filled in.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from flask import current_app, jsonify, request, url_for
from flask.typing import ResponseReturnValue

from directory.extensions import db
from directory.hsds import bp
from directory.sources import hsds, hsds_pages
from directory.sources.hsds_pages import ListRequest, ParameterError

REFERENCE_API = Path(__file__).with_name("openapi.json")
ATTRIBUTION = "Human Services Data Specification: an Open Referral resource (https://openreferral.org/)"


def error_response(message: str, status: int, fields: dict[str, list[str]] | None = None) -> ResponseReturnValue:
    return jsonify({"error": message, "fields": fields or {}}), status


def _parameters(answer: str) -> ListRequest:
    return hsds_pages.read_parameters(answer, request.args.to_dict(flat=False))


@bp.errorhandler(ParameterError)
def _bad_parameters(error: ParameterError) -> ResponseReturnValue:
    fields = {name: [message] for name, message in error.fields.items()}
    return error_response(f"Invalid parameters. {error}", 400, fields)


def _not_found(what: str, hsds_id: str) -> ResponseReturnValue:
    return error_response(f"No {what} has id {hsds_id!r}.", 404)


@bp.get("/")
def about() -> ResponseReturnValue:
    """What this API is: its HSDS version and profile, and where its OpenAPI document is."""
    _parameters("one")
    return jsonify(
        {
            "version": hsds.HSDS_VERSION,
            "profile": hsds.PROFILE,
            "openapi_url": url_for("hsds.openapi", _external=True),
        }
    )


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """Open Referral's reference API document, describing this API."""
    return jsonify(_openapi_document(url_for("hsds.about", _external=True).rstrip("/")))


@cache
def _openapi_document(server: str) -> dict[str, Any]:
    document = json.loads(REFERENCE_API.read_text(encoding="utf-8"))
    document["info"] = {
        "title": "Treatment center directory: HSDS API",
        "version": hsds.HSDS_VERSION,
        "description": "Treatment centers as Open Referral HSDS 3.0 services, read-only. "
        f"This document is adapted from Open Referral's reference API. {ATTRIBUTION}.",
        "license": {"name": "CC BY-SA 4.0", "url": "https://creativecommons.org/licenses/by-sa/4.0/"},
    }
    document["servers"] = [{"url": server}]
    return document


@bp.get("/services")
def services() -> ResponseReturnValue:
    """A page of services, superseded listings included with status "inactive"."""
    return jsonify(hsds_pages.services_page(db.session, _parameters("services")).envelope())


@bp.get("/services/<hsds_id>")
def service(hsds_id: str) -> ResponseReturnValue:
    """One service with every related object nested."""
    _parameters("one")
    center = hsds_pages.find_listing(db.session, "service", hsds_id)
    if center is None:
        return _not_found("service", hsds_id)
    return jsonify(hsds_pages.full_service(center))


@bp.get("/organizations")
def organizations() -> ResponseReturnValue:
    """A page of organizations."""
    return jsonify(hsds_pages.organizations_page(db.session, _parameters("organizations")).envelope())


@bp.get("/organizations/<hsds_id>")
def organization(hsds_id: str) -> ResponseReturnValue:
    """One organization with its location and service."""
    parameters = _parameters("organization")
    center = hsds_pages.find_listing(db.session, "organization", hsds_id)
    if center is None:
        return _not_found("organization", hsds_id)
    return jsonify(hsds_pages.full_organization(center, parameters))


@bp.get("/service_at_locations")
def service_at_locations() -> ResponseReturnValue:
    """A page of services at locations; with `postcode`, those near it, nearest first."""
    parameters = _parameters("service_at_locations")
    page = hsds_pages.service_at_locations_page(db.session, parameters, current_app.extensions["geocoder"])
    return jsonify(page.envelope())


@bp.get("/service_at_locations/<hsds_id>")
def service_at_location(hsds_id: str) -> ResponseReturnValue:
    """One service at its location, both in full."""
    _parameters("one")
    center = hsds_pages.find_listing(db.session, "service_at_location", hsds_id)
    if center is None:
        return _not_found("service_at_location", hsds_id)
    return jsonify(hsds_pages.full_service_at_location(center))


@bp.get("/taxonomies")
def taxonomies() -> ResponseReturnValue:
    """The directory's vocabulary, as one taxonomy."""
    return jsonify(hsds_pages.taxonomies_page(_parameters("taxonomies")).envelope())


@bp.get("/taxonomies/<hsds_id>")
def taxonomy(hsds_id: str) -> ResponseReturnValue:
    _parameters("one")
    if hsds_id != hsds.TAXONOMY_ID:
        return _not_found("taxonomy", hsds_id)
    return jsonify(hsds.taxonomy())


@bp.get("/taxonomy_terms")
def taxonomy_terms() -> ResponseReturnValue:
    """A page of the vocabulary's terms: one per attribute kind, and one per code under its kind."""
    return jsonify(hsds_pages.taxonomy_terms_page(_parameters("taxonomy_terms")).envelope())


@bp.get("/taxonomy_terms/<hsds_id>")
def taxonomy_term(hsds_id: str) -> ResponseReturnValue:
    _parameters("one")
    term = hsds_pages.find_term(hsds_id)
    if term is None:
        return _not_found("taxonomy term", hsds_id)
    return jsonify(term)
