"""Open Referral's HSDS 3.0 JSON Schemas and reference OpenAPI document (../shared/data/hsds-3.0),
loaded into one `referencing` registry to validate the API's answers and the export against."""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from tests.conftest import SHARED_DATA

SCHEMAS = SHARED_DATA / "hsds-3.0" / "schema"
#: Where the reference API's `$ref`s point: the same files, published.
PUBLISHED = "https://raw.githubusercontent.com/openreferral/specification/3.0/schema/"
#: The reference API's fully nested schemas are compiled from the files beside them, which the
#: data set holds but not the compiled copies: the files themselves stand in (they nest the same).
STAND_INS = {"compiled/service.json": "service.json", "compiled/organization.json": "organization.json"}


@cache
def registry() -> Registry:
    """Every schema, by file name (as they refer to one another) and by its published address."""
    resources = []
    for path in sorted(SCHEMAS.rglob("*.json")):
        name = path.relative_to(SCHEMAS).as_posix()
        resource = Resource.from_contents(json.loads(path.read_text()), default_specification=DRAFT202012)
        resources += [(name, resource), (PUBLISHED + name, resource)]
    for stand_in, name in STAND_INS.items():
        pointer = Resource.from_contents({"$ref": PUBLISHED + name}, default_specification=DRAFT202012)
        resources.append((PUBLISHED + stand_in, pointer))
    return Registry().with_resources(resources)


def validator(ref: str) -> Draft202012Validator:
    """A validator of the schema at `ref` (e.g. "service.json"), checking formats (uuid, uri, date-time...)."""
    return Draft202012Validator({"$ref": ref}, registry=registry(), format_checker=Draft202012Validator.FORMAT_CHECKER)


def response_ref(path: str, status: str = "200") -> str:
    """The reference API's schema of an answer, e.g. of "/services"."""
    pointer = path.replace("~", "~0").replace("/", "~1")
    return f"openapi.json#/paths/{pointer}/get/responses/{status}/content/application~1json/schema"


def assert_valid(instance: Any, ref: str) -> None:
    """Fail with every error, each with where it is, unless `instance` is valid."""
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(ref).iter_errors(instance)]
    assert not errors, errors
