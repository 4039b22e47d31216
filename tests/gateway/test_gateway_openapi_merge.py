"""Merging the services' OpenAPI documents, on plain dictionaries."""

from __future__ import annotations

from typing import Any

from gateway.openapi import merge, rewrite_refs, schema_renames

REF = "#/components/schemas/"


def doc(service: str, schemas: dict[str, Any], paths: dict[str, Any] | None = None) -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {"title": f"{service} API", "version": "1"},
        "paths": paths if paths is not None else {f"/api/v1/{service}/things": {"get": {"responses": {}}}},
        "components": {"schemas": schemas},
    }


def obj(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


def ref(name: str) -> dict[str, str]:
    return {"$ref": REF + name}


def test_identical_schemas_merge_and_different_ones_are_renamed_with_their_refs() -> None:
    item = obj(id={"type": "string"})
    other_item = obj(id={"type": "integer"})
    dossier_paths = {"/api/v1/dossier/items": {"get": {"responses": {"200": {"content": {"application/json": {
        "schema": ref("Item")}}}}}}}  # fmt: skip

    merged = merge(
        {"catalogue": doc("catalogue", {"Item": item}), "payment": doc("payment", {"Item": item}),
         "dossier": doc("dossier", {"Item": other_item}, dossier_paths)},
        title="t", version="1",
    )  # fmt: skip

    schemas = merged["components"]["schemas"]
    assert schemas == {"Item": item, "DossierItem": other_item}
    operation = merged["paths"]["/api/v1/dossier/items"]["get"]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == ref("DossierItem")


def test_a_schema_that_only_refers_to_a_renamed_one_is_renamed_too() -> None:
    first = {"Item": obj(id={"type": "string"}), "Page": obj(items={"type": "array", "items": ref("Item")})}
    second = {"Item": obj(id={"type": "integer"}), "Page": obj(items={"type": "array", "items": ref("Item")})}

    renames = schema_renames("dossier", second, first)

    assert renames == {"Item": "DossierItem", "Page": "DossierPage"}


def test_a_renamed_name_already_taken_gets_a_number() -> None:
    existing = {"Item": obj(a={}), "DossierItem": obj(b={})}

    assert schema_renames("dossier", {"Item": obj(c={})}, existing) == {"Item": "DossierItem2"}


def test_discriminator_mappings_follow_renames() -> None:
    node = {"oneOf": [ref("Cat")], "discriminator": {"propertyName": "kind", "mapping": {"cat": REF + "Cat"}}}

    rewritten = rewrite_refs(node, {"Cat": "SyncCat"})

    assert rewritten == {
        "oneOf": [ref("SyncCat")],
        "discriminator": {"propertyName": "kind", "mapping": {"cat": REF + "SyncCat"}},
    }
    assert node["oneOf"] == [ref("Cat")]  # the input is left alone


def test_a_service_that_is_down_is_listed_and_its_paths_left_out() -> None:
    merged = merge({"identity": doc("identity", {}), "payment": None}, title="t", version="1")

    assert merged["x-unavailable-services"] == ["payment"]
    assert list(merged["paths"]) == ["/api/v1/identity/things"]
    assert [tag["name"] for tag in merged["tags"]] == ["identity"]


def test_only_paths_the_gateway_routes_to_the_service_are_kept_and_untagged_operations_get_its_tag() -> None:
    paths = {
        "/api/v1/identity/me": {"get": {"responses": {}}},
        "/.well-known/openid-configuration": {"get": {"tags": ["oidc"], "responses": {}}},
        "/api/v1/catalogue/stolen": {"get": {"responses": {}}},
        "/internal/debug": {"get": {"responses": {}}},
    }

    merged = merge({"identity": doc("identity", {}, paths)}, title="Portal", version="2")

    assert set(merged["paths"]) == {"/api/v1/identity/me", "/.well-known/openid-configuration"}
    assert merged["paths"]["/api/v1/identity/me"]["get"]["tags"] == ["identity"]
    assert merged["paths"]["/.well-known/openid-configuration"]["get"]["tags"] == ["oidc"]
    assert merged["info"] == {"title": "Portal", "version": "2"}
    assert merged["tags"] == [{"name": "identity", "description": "identity API"}]
