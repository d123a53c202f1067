"""API views: thin wrappers that validate parameters and call the search code."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue

from directory.api import bp
from directory.api.openapi import openapi_document
from directory.api.schemas import Error, center_detail, search_response
from directory.extensions import db
from directory.models import Center
from directory.models.base import utcnow
from directory.public.forms import SearchForm
from directory.search.engine import find_centers_near


def error_response(message: str, status: int, fields: dict[str, list[str]] | None = None) -> ResponseReturnValue:
    return jsonify(Error(error=message, fields=fields or {}).model_dump()), status


@bp.get("/centers/search")
def search_centers() -> ResponseReturnValue:
    """Centers near a place, nearest first, with filters and pagination."""
    form = SearchForm(formdata=request.args)
    if not form.validate():
        fields = {name: list(messages) for name, messages in form.errors.items()}
        summary = " ".join(f"{name}: {messages[0]}" for name, messages in fields.items())
        return error_response(f"Invalid search. {summary}", 400, fields)
    result = find_centers_near(db.session, form.to_query())
    return jsonify(search_response(result).model_dump(mode="json"))


@bp.get("/centers/<int:center_id>")
def get_center(center_id: int) -> ResponseReturnValue:
    """One center's full listing."""
    center = db.session.get(Center, center_id)
    if center is None:
        return error_response(f"No center has id {center_id}.", 404)
    return jsonify(center_detail(center, utcnow()).model_dump(mode="json"))


@bp.get("/openapi.json")
def openapi() -> ResponseReturnValue:
    """The OpenAPI 3 description of this API."""
    return jsonify(openapi_document())
