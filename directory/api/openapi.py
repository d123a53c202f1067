"""The OpenAPI 3.1 document, generated from the search form's fields and the response models."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from wtforms import BooleanField, FloatField, IntegerField, SelectField, SelectMultipleField

from directory.api.schemas import CapacityUpdate, CenterDetail, CenterEdit, CenterHistory, Error, SearchResponse
from directory.public.forms import SearchForm

REF = "#/components/schemas/{model}"


def _parameter(field: Any) -> dict[str, Any]:
    """An OpenAPI query parameter for one form field."""
    schema: dict[str, Any]
    if isinstance(field, SelectMultipleField):
        schema = {"type": "array", "items": {"type": "string", "enum": [c.value for c in field.choices]}}
    elif isinstance(field, SelectField):
        schema = {"type": "string", "enum": [c.value for c in field.choices]}
    elif isinstance(field, BooleanField):
        schema = {"type": "boolean"}
    elif isinstance(field, IntegerField):
        schema = {"type": "integer"}
    elif isinstance(field, FloatField):
        schema = {"type": "number"}
    else:
        schema = {"type": "string"}
    for validator in field.validators:
        if hasattr(validator, "min") and validator.min is not None:
            schema["minimum"] = validator.min
        if hasattr(validator, "max") and validator.max is not None:
            schema["maximum"] = validator.max
    if field.default not in (None, "") and not isinstance(field, BooleanField):
        schema["default"] = field.default
    parameter = {
        "name": field.name,
        "in": "query",
        "required": bool(field.flags.required),
        "description": field.description or field.label.text,
        "schema": schema,
    }
    if schema["type"] == "array":
        parameter.update(style="form", explode=True)
        parameter["description"] += " Repeat the parameter, or separate codes with commas, for any of several."
    return parameter


def _json(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


CENTER_ID = {"name": "center_id", "in": "path", "required": True, "schema": {"type": "integer"}}

#: The answers every write shares: who may call it, and what happens to anyone else.
ACCESS_RESPONSES = {
    "401": {"$ref": "#/components/responses/Unauthorized"},
    "403": {"$ref": "#/components/responses/Forbidden"},
    "404": {"$ref": "#/components/responses/NotManaged"},
}
WRITE_ACCESS = (
    " Needs a bearer token of center staff of this center, or of an administrator; "
    "center staff of other centers get 404 (and the attempt is logged)."
)


def _request_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    return {
        "required": True,
        "description": description,
        "content": {"application/json": {"schema": {"$ref": REF.format(model=model.__name__)}}},
    }


def _write(operation_id: str, summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    """An operation that needs a bearer token of the center's staff or an administrator."""
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": summary + "." + WRITE_ACCESS,
        "security": [{"bearerAuth": []}],
        "parameters": [CENTER_ID],
        **extra,
        "responses": {**responses, **ACCESS_RESPONSES},
    }


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once per process, inside a request or app context)."""
    form = SearchForm(formdata=None)
    schemas: dict[str, Any] = {}
    for model in (SearchResponse, CenterDetail, CenterEdit, CapacityUpdate, CenterHistory, Error):
        schema = model.model_json_schema(ref_template=REF)
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Treatment-center directory API",
            "version": "1",
            "description": "Find addiction-treatment centers near a place. Listings imported from SAMHSA's 2015 "
            "national directory are not confirmed by the centers: call before going.",
        },
        "paths": {
            "/api/v1/centers/search": {
                "get": {
                    "operationId": "searchCenters",
                    "summary": "Centers near a place, nearest first",
                    "parameters": [_parameter(field) for field in form],
                    "responses": {
                        "200": _json(SearchResponse, "One page of the matching centers."),
                        "400": _json(Error, "A parameter was not understood; `fields` says which."),
                    },
                }
            },
            "/api/v1/centers/{center_id}": {
                "get": {
                    "operationId": "getCenter",
                    "summary": "One center's full listing",
                    "parameters": [CENTER_ID],
                    "responses": {
                        "200": _json(CenterDetail, "The center."),
                        "404": _json(Error, "No center has that id."),
                    },
                },
                "patch": _write(
                    "editCenter",
                    "Change fields of a center's listing",
                    {
                        "200": {
                            **_json(CenterDetail, "The listing after the change; every changed field is audited."),
                            "headers": {
                                "X-Location-Source": {
                                    "description": "How the map point was decided: unchanged, explicit (latitude "
                                    "and longitude sent) or geocoded (the changed address's ZIP code).",
                                    "schema": {"type": "string", "enum": ["unchanged", "explicit", "geocoded"]},
                                }
                            },
                        },
                        "400": _json(Error, "Unknown fields or invalid values; `fields` has a message for each."),
                    },
                    requestBody=_request_body(CenterEdit, "Only the fields to change."),
                ),
            },
            "/api/v1/centers/{center_id}/capacity": {
                "put": _write(
                    "updateCenterCapacity",
                    "Set whether a center accepts referrals and how many beds are free",
                    {
                        "200": _json(CenterDetail, "The listing with its new capacity."),
                        "400": _json(Error, "Invalid values; `fields` says which."),
                    },
                    requestBody=_request_body(CapacityUpdate, "Both values; beds_available null when not known."),
                ),
            },
            "/api/v1/centers/{center_id}/confirm": {
                "post": _write(
                    "confirmCenter",
                    "Confirm a center's listing is accurate (it shows as confirmed for 180 days)",
                    {"200": _json(CenterDetail, "The listing, with last_verified_at now and verified true.")},
                ),
            },
            "/api/v1/centers/{center_id}/history": {
                "get": _write(
                    "getCenterHistory",
                    "The audited changes to a center's listing, newest first",
                    {"200": _json(CenterHistory, "One event per changed field.")},
                ),
            },
        },
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "An API token, created on the account page (`Authorization: Bearer tdk_...`).",
                }
            },
            "responses": {
                "Unauthorized": _json(Error, "No valid bearer token was sent."),
                "Forbidden": _json(Error, "The token's account is not center staff or an administrator."),
                "NotManaged": _json(Error, "No such center, or the token's account does not manage it."),
            },
        },
    }
