"""Filed forms against their JSON Schema: each offending field named by its path."""

from __future__ import annotations

import copy
import urllib.request
from typing import Any

import pytest
from referencing.exceptions import Unresolvable

from services.dossier.domain.forms import validate_form

SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["ho_ten", "ngay_sinh", "nguoi_nop"],
    "additionalProperties": False,
    "properties": {
        "ho_ten": {"type": "string", "minLength": 1},
        "ngay_sinh": {"type": "string", "format": "date"},
        "email": {"type": "string", "format": "email"},
        "so_con": {"type": "integer", "minimum": 0},
        "nguoi_nop": {
            "type": "object",
            "required": ["ten", "so_dien_thoai"],
            "additionalProperties": False,
            "properties": {
                "ten": {"type": "string"},
                "so_dien_thoai": {"type": "string", "pattern": "^0[0-9]{9}$"},
            },
        },
        "con": {"type": "array", "items": {"$ref": "#/$defs/con"}},
    },
    "$defs": {
        "con": {
            "type": "object",
            "required": ["ten"],
            "additionalProperties": False,
            "properties": {"ten": {"type": "string", "minLength": 1}, "nam_sinh": {"type": "integer"}},
        }
    },
}

VALID: dict[str, Any] = {
    "ho_ten": "Nguyễn Văn An",
    "ngay_sinh": "1990-05-17",
    "email": "an@example.vn",
    "so_con": 2,
    "nguoi_nop": {"ten": "Nguyễn Văn An", "so_dien_thoai": "0912345678"},
    "con": [{"ten": "Nguyễn Thị Bình", "nam_sinh": 2015}, {"ten": "Nguyễn Văn Cường"}],
}


def fields(errors: list[dict[str, str]]) -> list[str]:
    return [e["field"] for e in errors]


def test_valid_data_has_no_errors() -> None:
    assert validate_form(SCHEMA, VALID) == []


def test_missing_required_property_is_named_itself() -> None:
    data = copy.deepcopy(VALID)
    del data["ho_ten"]
    errors = validate_form(SCHEMA, data)
    assert errors == [{"field": "form.ho_ten", "location": "body", "message": errors[0]["message"]}]
    assert errors[0]["message"]


def test_several_missing_properties_are_each_named() -> None:
    errors = validate_form(SCHEMA, {})
    assert fields(errors) == ["form.ho_ten", "form.ngay_sinh", "form.nguoi_nop"]


def test_nested_type_error_has_the_dotted_path() -> None:
    data = copy.deepcopy(VALID)
    data["nguoi_nop"]["so_dien_thoai"] = 912345678
    errors = validate_form(SCHEMA, data)
    assert fields(errors) == ["form.nguoi_nop.so_dien_thoai"]
    assert "string" in errors[0]["message"]
    assert errors[0]["location"] == "body"


def test_nested_pattern_and_missing_property() -> None:
    data = copy.deepcopy(VALID)
    data["nguoi_nop"] = {"so_dien_thoai": "12345"}
    assert fields(validate_form(SCHEMA, data)) == ["form.nguoi_nop.so_dien_thoai", "form.nguoi_nop.ten"]


def test_array_positions_are_numbers_in_the_path() -> None:
    data = copy.deepcopy(VALID)
    data["con"] = [{"ten": "A"}, {"ten": ""}, {"nam_sinh": "2015"}]
    assert fields(validate_form(SCHEMA, data)) == ["form.con.1.ten", "form.con.2.nam_sinh", "form.con.2.ten"]


def test_each_additional_property_is_named_on_its_own() -> None:
    data = copy.deepcopy(VALID)
    data["ghi_chu"] = "x"
    data["admin"] = True
    data["nguoi_nop"]["quan_he"] = "cha"
    data["con"][0]["lop"] = 3
    errors = validate_form(SCHEMA, data)
    assert fields(errors) == ["form.admin", "form.con.0.lop", "form.ghi_chu", "form.nguoi_nop.quan_he"]
    assert all(e["location"] == "body" and e["message"] for e in errors)


def test_additional_properties_allowed_by_a_pattern_are_not_reported() -> None:
    schema = {
        "type": "object",
        "properties": {"a": {"type": "string"}},
        "patternProperties": {"^x_": {"type": "integer"}},
        "additionalProperties": False,
    }
    assert validate_form(schema, {"a": "1", "x_b": 2}) == []
    assert fields(validate_form(schema, {"a": "1", "x_b": "2", "y": 3})) == ["form.x_b", "form.y"]


def test_additional_properties_with_a_schema_report_the_bad_value() -> None:
    schema = {"type": "object", "additionalProperties": {"type": "integer"}}
    assert fields(validate_form(schema, {"a": 1, "b": "x"})) == ["form.b"]


def test_formats_are_checked() -> None:
    data = copy.deepcopy(VALID)
    data["ngay_sinh"] = "1990-02-30"
    data["email"] = "not an email"
    assert fields(validate_form(SCHEMA, data)) == ["form.email", "form.ngay_sinh"]


def test_a_root_that_is_not_an_object_is_the_prefix_itself() -> None:
    errors = validate_form(SCHEMA, ["ho_ten"])
    assert fields(errors) == ["form"]


def test_the_prefix_is_configurable() -> None:
    assert fields(validate_form(SCHEMA, {"ho_ten": "A", "ngay_sinh": "1990-01-01"}, prefix="data")) == [
        "data.nguoi_nop"
    ]


def test_errors_are_sorted_by_field_with_positions_in_numeric_order() -> None:
    data = copy.deepcopy(VALID)
    data["con"] = [{} for _ in range(12)]
    data["so_con"] = -1
    errors = validate_form(SCHEMA, data)
    assert fields(errors) == [f"form.con.{n}.ten" for n in range(12)] + ["form.so_con"]


def test_the_number_of_errors_is_limited_keeping_the_first_fields() -> None:
    data = copy.deepcopy(VALID)
    data["con"] = [{} for _ in range(200)]
    errors = validate_form(SCHEMA, data)
    assert len(errors) == 50
    assert fields(errors) == [f"form.con.{n}.ten" for n in range(50)]
    assert fields(validate_form(SCHEMA, data, limit=3)) == ["form.con.0.ten", "form.con.1.ten", "form.con.2.ten"]
    assert validate_form(SCHEMA, data, limit=0) == []


def test_the_same_property_required_twice_is_one_error() -> None:
    schema = {"allOf": [{"required": ["a"]}, {"required": ["a", "b"]}]}
    assert fields(validate_form(schema, {})) == ["form.a", "form.b"]


def test_the_dialect_of_the_schema_is_honoured() -> None:
    # draft-07: "dependencies" is a keyword there (it is not in 2020-12).
    schema = {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "dependencies": {"so_giay_to": ["loai_giay_to"]},
    }
    assert len(validate_form(schema, {"so_giay_to": "1"})) == 1
    later = {**schema, "$schema": "https://json-schema.org/draft/2020-12/schema"}
    assert validate_form(later, {"so_giay_to": "1"}) == []


def test_a_remote_reference_is_never_fetched(monkeypatch: pytest.MonkeyPatch) -> None:
    fetched: list[object] = []

    def urlopen(*args: object, **kwargs: object) -> None:
        fetched.append(args)
        raise OSError("no network in a domain rule")

    monkeypatch.setattr(urllib.request, "urlopen", urlopen)
    schema = {"type": "object", "properties": {"a": {"$ref": "https://example.invalid/schema.json"}}}
    with pytest.raises(Unresolvable):
        validate_form(schema, {"a": 1})
    assert fetched == []
