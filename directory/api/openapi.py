"""The OpenAPI 3.1 document, generated from the search form's fields and the response models."""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel
from wtforms import BooleanField, FloatField, IntegerField, SelectField, SelectMultipleField

from directory.api.schemas import CenterDetail, Error, SearchResponse
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


@cache
def openapi_document() -> dict[str, Any]:
    """The whole document (built once per process, inside a request or app context)."""
    form = SearchForm(formdata=None)
    schemas: dict[str, Any] = {}
    for model in (SearchResponse, CenterDetail, Error):
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
                    "parameters": [
                        {"name": "center_id", "in": "path", "required": True, "schema": {"type": "integer"}}
                    ],
                    "responses": {
                        "200": _json(CenterDetail, "The center."),
                        "404": _json(Error, "No center has that id."),
                    },
                }
            },
        },
        "components": {"schemas": schemas},
    }
