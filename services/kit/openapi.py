"""The conventions of every service's OpenAPI document, in one place.

Web and mobile teams generate their clients from the gateway's merged document, so its names
are an interface: operationIds are short camelCase verbs (``submitDossier``), derived from
the route function's name unless the route names one; every operation carries its service's
tag; no schema name carries a Python module path or FastAPI's generated ``Body_…`` prefix;
binary bodies say ``format: binary`` under their media type; every operation that needs a
token says so in ``security``, with the scopes its dependencies check (``kit.auth``), as an
OpenID Connect scheme (our own discovery document) or a plain bearer token.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from contracts.json import JsonSchema, OpenApi

from .auth import acr_demand, token_demand
from .schemas import NOT_BLANK_TEXT, NOT_STORABLE, WHITESPACE

SCHEMA_REF = "#/components/schemas/"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
BINARY = {"type": "string", "format": "binary"}
# The two ways a client may present the same access token; an operation accepts either.
OPENID_CONNECT = "openIdConnect"
BEARER = "bearerToken"


def operation_id(route: APIRoute) -> str:
    """The operationId of a route that names none: its function's name in camelCase
    (``list_dossiers`` → ``listDossiers``). Routes whose function name is too short to stand
    alone in a portal-wide client (``me``, ``submit``) pass ``operation_id=`` themselves."""
    head, *rest = route.name.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def binary_content(*media_types: str) -> OpenApi:
    """The ``responses`` entry of a binary answer (an image, a file) in ``media_types``."""
    return {"content": {media_type: {"schema": dict(BINARY)} for media_type in media_types}}


def json_object() -> OpenApi:
    """The ``responses`` entry of a JSON object answer a route declares beside its own (the 200
    of a replayed creation, whose 201 the route's return type states)."""
    return {"content": {"application/json": {"schema": {"type": "object"}}}}


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


def security_schemes(issuer: str) -> OpenApi:
    """The portal's security schemes: tokens come from the issuer ``issuer`` (its discovery
    document says how to get one); a client that already has one may send it as a bearer token."""
    return {
        OPENID_CONNECT: {"type": "openIdConnect", "openIdConnectUrl": f"{issuer}/.well-known/openid-configuration",
                         "description": "An access token from the portal's OpenID provider."},
        BEARER: {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                 "description": "The same access token (RFC 9068 JWT) sent as `Authorization: Bearer …`."},
    }  # fmt: skip


def token_security(*alternatives: Iterable[str]) -> list[dict[str, list[str]]]:
    """An operation's ``security``: an access token holding every scope of one of
    ``alternatives`` (an empty one: any valid token), presented either way."""
    return [{scheme: list(scopes)} for scopes in alternatives for scheme in (OPENID_CONNECT, BEARER)]


def route_security(route: APIRoute) -> list[dict[str, list[str]]] | None:
    """The ``security`` of ``route``, from the token demands of its dependencies (every one of
    them must pass, so their scopes add up); None for a route that checks no token."""
    demands = [demand for call in _dependency_calls(route.dependant) if (demand := token_demand(call)) is not None]
    if not demands:
        return None
    combined: list[tuple[str, ...]] = [()]
    for demand in demands:
        combined = [tuple(sorted({*held, *more})) for held in combined for more in demand]
    return token_security(*dict.fromkeys(combined))


#: The extension naming the level of assurance an operation requires (an ``acr`` value), or
#: ``per-service`` when it is the online service's (the dossier's submission).
REQUIRED_ACR = "x-required-acr"
_STEP_UP_DESCRIPTION = (
    "No valid token, or (RFC 9470) the sign-in behind it is below the level this operation requires "
    "or older than its max_age: the problem `insufficient-user-authentication`, with "
    '`WWW-Authenticate: Bearer error="insufficient_user_authentication", error_description="…", '
    'acr_values="<level>"` (and `max_age="<seconds>"`). Ask the OpenID provider for a new token with '
    "those `acr_values` (and `max_age`), then send the request again."
)


def step_up_response() -> OpenApi:
    """The 401 ``responses`` entry of an operation that may ask for a stronger sign-in (RFC 9470)."""
    return {
        "description": _STEP_UP_DESCRIPTION,
        "headers": {"WWW-Authenticate": {"schema": {"type": "string"},
                                         "description": "The challenge: the scheme, the error and what to ask for."}},
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }  # fmt: skip


def route_acr(route: APIRoute) -> str | None:
    """The level of assurance ``route`` requires (``per-service`` when a use case decides it),
    from its dependencies' and its own demands (``kit.auth.require_acr``, ``demands_acr``)."""
    calls = [route.endpoint, *_dependency_calls(route.dependant)]
    demands = [demand for call in calls if (demand := acr_demand(call)) is not None]
    if not demands:
        return None
    fixed = [level for level, _ in demands if level is not None]
    return fixed[0] if fixed and len(fixed) == len(demands) else "per-service"


def _dependency_calls(dependant: Dependant) -> Iterator[Any]:
    for dependency in dependant.dependencies:
        yield dependency.call
        yield from _dependency_calls(dependency)


Mounted = Sequence[tuple[str, Sequence[APIRouter]]]


def _binary_files(node: Any) -> None:
    """Marks the files of a form body ``format: binary``, as generators expect them; FastAPI
    states an ``UploadFile`` with OpenAPI 3.1's ``contentMediaType`` alone."""
    if isinstance(node, dict):
        if node.get("type") == "string" and "contentMediaType" in node:
            node.setdefault("format", "binary")
        for value in node.values():
            _binary_files(value)
    elif isinstance(node, list):
        for value in node:
            _binary_files(value)


def _nothing_empty_required(form: JsonSchema) -> None:
    """A form body cannot send a required field empty: an empty value or list is no field at all
    to the server (FastAPI reads it as missing). The schema says so: at least one character, or
    one item."""
    for name in form.get("required") or ():
        field = (form.get("properties") or {}).get(name)
        if not isinstance(field, dict):
            continue
        if field.get("type") == "string" and field.get("format") != "binary" and not field.get("minLength"):
            field["minLength"] = 1
        elif field.get("type") == "array" and not field.get("minItems"):
            field["minItems"] = 1


def conventional(
    document: OpenApi, service: str, title: str, routers: Mounted = (), issuer: str | None = None
) -> OpenApi:
    """``document`` with the portal's conventions applied: one tag per service, form bodies'
    schemas named after their operation (their files ``format: binary``), and (given the app's
    ``routers``, each with the prefix it is mounted at, and the token ``issuer``) the security
    schemes and each operation's ``security``."""
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
            _binary_files(document["components"]["schemas"][new])
            _nothing_empty_required(document["components"]["schemas"][new])
    if issuer is not None:
        document.setdefault("components", {})["securitySchemes"] = security_schemes(issuer)
    for prefix, router in ((prefix, router) for prefix, group in routers for router in group):
        for route in router.routes:
            if isinstance(route, APIRoute) and route.include_in_schema and (security := route_security(route)):
                for method in route.methods or ():
                    operation = document["paths"][prefix + route.path_format][method.lower()]
                    operation.setdefault("security", security)  # a route's own openapi_extra wins
                    if (acr := route_acr(route)) is not None:
                        operation[REQUIRED_ACR] = acr
                        operation.setdefault("responses", {})["401"] = step_up_response()
    return storable_request_bodies(document)


# --- what a request body may hold: no character a text column cannot store ------------------------

#: Refused in every string of a request body, keys included (``kit.schemas.StrictModel``): NUL, which
#: PostgreSQL cannot store, and lone UTF-16 surrogates, which have no UTF-8 form.
STORABLE_TEXT = f"^[^{NOT_STORABLE}]*$"
# Patterns that do not exclude those characters, each with one that states both rules.
_AND_STORABLE = {
    NOT_BLANK_TEXT: f"^[^{NOT_STORABLE}]*[^{WHITESPACE}{NOT_STORABLE}][^{NOT_STORABLE}]*$",
}
# Free-form JSON (a form's data, a record) cannot say it of its nested strings: JSON Schema would
# need a recursive schema, which client generators do not take. Its description says it instead.
FREE_JSON_RULE = "No string in it (object keys included) may hold NUL or a lone surrogate."
# Strings of these formats cannot hold such characters in the first place.
_PLAIN_FORMATS = frozenset({"binary", "date", "date-time", "time", "uuid", "email", "uri", "byte", "duration"})
# Members of a schema whose values are data or names, not schemas.
_NOT_SCHEMAS = frozenset({"enum", "const", "examples", "default", "required", "description", "title"})


def _is_any(node: Any) -> bool:
    return isinstance(node, dict) and not (set(node) - {"title", "description", "examples", "default"})


def _says_free_json(node: JsonSchema) -> JsonSchema:
    description = node.get("description", "")
    if FREE_JSON_RULE in description:
        return node
    return {**node, "description": f"{description} {FREE_JSON_RULE}".strip()}


def _storable(node: Any) -> Any:
    """``node`` (a request body's schema) stating that its strings hold no unstorable character."""
    if isinstance(node, list):
        return [_storable(item) for item in node]
    if not isinstance(node, dict) or "$ref" in node:
        return node
    if _is_any(node):
        return _says_free_json(node)
    node = {key: value if key in _NOT_SCHEMAS else
            {name: _storable(v) for name, v in value.items()} if key == "properties" and isinstance(value, dict)
            else _storable(value) for key, value in node.items()}  # fmt: skip
    types = node.get("type")
    if (both := _AND_STORABLE.get(node.get("pattern"))) is not None:
        node["pattern"] = both
    if (types == "string" or (isinstance(types, list) and "string" in types)) and not (
        {"pattern", "enum", "const", "contentMediaType"} & set(node) or node.get("format") in _PLAIN_FORMATS
    ):
        node["pattern"] = STORABLE_TEXT
    values = node.get("additionalProperties", True)
    if types == "object" and values is not False and "properties" not in node:
        names = node.get("propertyNames") or {}
        if "pattern" not in names:  # a pattern of its own already states both rules (above, recursively)
            node["propertyNames"] = {**names, "pattern": STORABLE_TEXT}
        if values is True or _is_any(values):
            node = _says_free_json(node)
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(ref := node.get("$ref"), str) and ref.startswith(SCHEMA_REF):
            yield ref[len(SCHEMA_REF) :]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def storable_request_bodies(document: OpenApi) -> OpenApi:
    """``document`` stating the rule every request body's model enforces (``StrictModel``): no
    string in it holds NUL or a lone surrogate. Applies to the schemas request bodies reach."""
    schemas = (document.get("components") or {}).get("schemas") or {}
    bodies = [operation["requestBody"] for item in (document.get("paths") or {}).values()
              for method in HTTP_METHODS if isinstance(operation := item.get(method), dict)
              and "requestBody" in operation]  # fmt: skip
    reached: set[str] = set()
    pending = [name for body in bodies for name in _refs(body)]
    while pending:
        name = pending.pop()
        if name in reached or name not in schemas:
            continue
        reached.add(name)
        pending.extend(_refs(schemas[name]))
    for name in reached:
        schemas[name] = _storable(schemas[name])
    for body in bodies:
        for media in (body.get("content") or {}).values():
            if isinstance(media, dict) and "schema" in media:
                media["schema"] = _storable(media["schema"])
    return document
