"""A filed form checked against the JSON Schema its online service version publishes. Pure Python.

The catalogue only stores schemas that are valid against their dialect's meta-schema, have an
object at the root and refer only inside themselves; here the citizen's data is checked with
the ``jsonschema`` library, formats included (``email``, ``date``, …). The rules:

1. **Every offending field is named**, as the request-validation errors of the kit name them:
   ``{"field": "form.nguoi_nop.so_dien_thoai", "location": "body", "message": ...}``. The field
   is the prefix and the path of the offending value, dotted, array positions as numbers
   (``form.con.0.ten``); the form itself is just the prefix.
2. **A missing property is the field that is missing** (``form.ho_ten``), not the object that
   lacks it, and **each property not allowed is named on its own** (``form.ghi_chu``): a client
   can put every message next to its input.
3. **The answer is bounded and stable**: at most ``limit`` errors, in the order of their fields
   (array positions compared as numbers), so the same data always gives the same answer.
4. **Nothing is fetched**: references resolve only inside the schema itself (an empty
   registry), so checking a form never reaches the network.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from typing import Any

from jsonschema import ValidationError
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for
from referencing import Registry

MAX_MESSAGE_LENGTH = 300


def _key(segment: object) -> tuple[int, int, str]:
    # Array positions before property names, and in numeric order among themselves.
    if isinstance(segment, int):
        return (0, segment, "")
    return (1, 0, str(segment))


def _shorten(message: str) -> str:
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    return message[: MAX_MESSAGE_LENGTH - 1] + "…"


def _extra_properties(error: ValidationError) -> list[str]:
    """The properties an ``additionalProperties: false`` error is about, found as the library
    finds them: neither listed in ``properties`` nor matching a ``patternProperties`` pattern."""
    schema, instance = error.schema, error.instance
    if not isinstance(schema, Mapping) or not isinstance(instance, Mapping):
        return []
    listed = schema.get("properties", {})
    patterns = list(schema.get("patternProperties", {}))
    return [
        name for name in instance if name not in listed and not any(re.search(pattern, name) for pattern in patterns)
    ]


def _missing_properties(error: ValidationError) -> list[str]:
    required, instance = error.validator_value, error.instance
    if not isinstance(required, list) or not isinstance(instance, Mapping):
        return []
    return [name for name in dict.fromkeys(required) if isinstance(name, str) and name not in instance]


def _located(errors: Iterator[ValidationError]) -> Iterator[tuple[list[Any], str]]:
    """(path, message) for each error, one per missing or extra property."""
    seen: set[tuple[tuple[Any, ...], tuple[Any, ...]]] = set()
    for error in errors:
        path = list(error.absolute_path)
        if error.validator in ("required", "additionalProperties"):
            # The library reports each missing property (each extra one, at once) with the
            # object's path; name each one instead, once per object and keyword.
            mark = (tuple(path), tuple(error.absolute_schema_path))
            if mark in seen:
                continue
            seen.add(mark)
            if error.validator == "required":
                names = _missing_properties(error)
                message = "This field is required."
            else:
                names = _extra_properties(error)
                message = "This field is not allowed."
            if names:
                for name in names:
                    yield [*path, name], message
                continue
        yield path, error.message


FormValidator = Validator


def form_validator(schema: Mapping[str, Any]) -> FormValidator:
    """The validator of a service's form (its draft's rules and formats; no remote references:
    an empty registry). Made once per form and reused."""
    cls = validator_for(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER, registry=Registry())


def validate_form(
    schema: Mapping[str, Any] | FormValidator, data: Any, *, prefix: str = "form", limit: int = 50
) -> list[dict[str, str]]:
    """The errors of ``data`` against ``schema`` (or its validator), at most ``limit``; empty
    when it is valid."""
    validator = form_validator(schema) if isinstance(schema, Mapping) else schema
    if validator.is_valid(data):  # the usual case, at a fraction of the cost of collecting errors
        return []
    located = sorted(
        _located(validator.iter_errors(data)), key=lambda item: ([_key(segment) for segment in item[0]], item[1])
    )
    errors: list[dict[str, str]] = []
    for path, message in located:
        if len(errors) >= limit:
            break
        error = {"field": ".".join([prefix, *map(str, path)]), "location": "body", "message": _shorten(message)}
        if error not in errors[-1:]:  # the same property required by two branches is one error
            errors.append(error)
    return errors
