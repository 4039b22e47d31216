"""The conventions of every service's OpenAPI document, in one place.

Web and mobile teams generate their clients from the gateway's merged document, so its names
are an interface: operationIds are short camelCase verbs (``submitDossier``), derived from
the route function's name unless the route names one; every operation carries its service's
tag; no schema name carries a Python module path or FastAPI's generated ``Body_…`` prefix;
binary bodies say ``format: binary`` under their media type.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi.routing import APIRoute

SCHEMA_REF = "#/components/schemas/"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BINARY = {"type": "string", "format": "binary"}


def operation_id(route: APIRoute) -> str:
    """The operationId of a route that names none: its function's name in camelCase
    (``list_dossiers`` → ``listDossiers``). Routes whose function name is too short to stand
    alone in a portal-wide client (``me``, ``submit``) pass ``operation_id=`` themselves."""
    head, *rest = route.name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def binary_content(*media_types: str) -> dict[str, Any]:
    """The ``responses`` entry of a binary answer (an image, a file) in ``media_types``."""
    return {"content": {media_type: {"schema": dict(BINARY)} for media_type in media_types}}


def rewrite_refs(node: Any, renames: Mapping[str, str]) -> Any:
    """A copy of ``node`` whose schema references follow ``renames``. Any string that is a
    whole schema reference is rewritten, which covers discriminator mappings too."""
    if isinstance(node, dict):
        return {key: rewrite_refs(value, renames) for key, value in node.items()}
    if isinstance(node, list):
        return [rewrite_refs(value, renames) for value in node]
    if isinstance(node, str) and renames and node.startswith(SCHEMA_REF):
        name = node[len(SCHEMA_REF) :]
        return SCHEMA_REF + renames.get(name, name)
    return node


def form_schema_name(generated: str) -> str:
    """``Body_uploadAttachment`` (FastAPI's name for a multipart or form body) → ``UploadAttachmentForm``."""
    operation = generated.removeprefix("Body_")
    return operation[:1].upper() + operation[1:] + "Form"


def conventional(document: dict[str, Any], service: str, title: str) -> dict[str, Any]:
    """``document`` with the portal's conventions applied: one tag per service, form bodies'
    schemas named after their operation."""
    for item in (document.get("paths") or {}).values():
        for method in HTTP_METHODS:
            if isinstance(operation := item.get(method), dict):
                operation["tags"] = [service]
    document["tags"] = [{"name": service, "description": title}]
    schemas = (document.get("components") or {}).get("schemas") or {}
    renames = {name: form_schema_name(name) for name in schemas if name.startswith("Body_")}
    if renames:
        document = rewrite_refs(document, renames)
        document["components"]["schemas"] = {renames.get(name, name): schema for name, schema in
                                             document["components"]["schemas"].items()}  # fmt: skip
        for new in renames.values():
            document["components"]["schemas"][new]["title"] = new
    return document
