"""A request body's text rules as the OpenAPI document states them are the ones the server applies:
lengths and patterns on the text as sent, the whitespace around it dropped after, a not-blank field
refused when it holds only whitespace, and a verbatim field (a password) kept as sent."""

from __future__ import annotations

from typing import Annotated, Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import Field, ValidationError

from services.kit.openapi import storable_request_bodies
from services.kit.schemas import NotBlank, StrictModel, Verbatim


class Body(StrictModel):
    short: Annotated[str, Field(min_length=2, max_length=5)] = "ok"
    name: Annotated[str, Field(min_length=1, max_length=8), NotBlank()] = "name"
    words: list[Annotated[str, Field(max_length=4)]] = Field(default_factory=list)
    secret: Annotated[str, Verbatim(), Field(min_length=1, max_length=8)] = "secret"


def _document_schema() -> dict[str, Any]:
    """``Body`` as the service's document states it (with the kit's request-body rules applied)."""
    body = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Body"}}}}
    document: dict[str, Any] = {
        "paths": {"/b": {"post": {"requestBody": body}}},
        "components": {"schemas": {"Body": Body.model_json_schema()}},
    }
    return storable_request_bodies(document)["components"]["schemas"]["Body"]


SCHEMA = _document_schema()
# Text near the bounds, made mostly of the characters where stripping and counting could disagree.
_SPACES = "".join(c for c in map(chr, range(0x3001)) if c.isspace()) + "\ufeff\u200b"
TEXT = st.text(st.sampled_from(_SPACES) | st.characters(codec="utf-8", exclude_characters="\x00"), max_size=10)


def _server_accepts(field: str, value: Any) -> Any:
    try:
        return True, getattr(Body.model_validate({field: value}), field)
    except ValidationError:
        return False, None


def _document_accepts(field: str, value: Any) -> bool:
    return jsonschema.Draft202012Validator(SCHEMA).is_valid({field: value})


@settings(max_examples=400, deadline=None, derandomize=True)
@given(field=st.sampled_from(["short", "name", "secret"]), value=TEXT)
def test_the_document_and_the_server_accept_the_same_text(field: str, value: str) -> None:
    accepted, kept = _server_accepts(field, value)
    assert accepted == _document_accepts(field, value), (field, value)
    if accepted:
        assert kept == (value if field == "secret" else value.strip())


@settings(max_examples=200, deadline=None, derandomize=True)
@given(value=st.lists(TEXT, max_size=3))
def test_a_list_of_text_is_bounded_as_sent_and_stripped_item_by_item(value: list[str]) -> None:
    accepted, kept = _server_accepts("words", value)
    assert accepted == _document_accepts("words", value), value
    if accepted:
        assert kept == [item.strip() for item in value]


@pytest.mark.parametrize(
    ("field", "value", "accepted", "kept"),
    [
        ("short", "  abc  ", False, None),  # 7 characters as sent: over the stated maximum of 5
        ("short", " abc ", True, "abc"),
        ("short", "  ", True, ""),  # 2 characters as sent: the stated minimum; no rule asks for more
        ("name", "   ", False, None),  # only whitespace: the stated pattern refuses it
        ("name", " An ", True, "An"),
        ("secret", " pa ss ", True, " pa ss "),
    ],
)
def test_edges(field: str, value: str, accepted: bool, kept: str | None) -> None:
    assert _server_accepts(field, value) == (accepted, kept)
    assert _document_accepts(field, value) == accepted
