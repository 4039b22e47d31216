"""Names for the JSON objects whose members no type of ours can fix, each saying why it is open.

Every other JSON object that crosses a layer has a type (a pydantic model, a dataclass, a
TypedDict); these are the exceptions, and the name at each use says which one it is. They live
here, beside the event contracts, because the contracts, the kit, the gateway and every service
all need them and the contracts import nothing of the others.
"""

from __future__ import annotations

from typing import Any

#: A JSON object that is genuinely schemaless: the kinds below are all this. Use one of them (or
#: add one that says why its members are open), never this for an object whose members are known.
JsonObject = dict[str, Any]

#: A form's data as an applicant filled it in: its members are the ones the online service's form
#: (a JSON Schema an editor wrote, :data:`JsonSchema`) asks for, checked against that schema, not by
#: a type.
FormData = JsonObject

#: A JSON Schema document or subschema (a service's form, a request body's rules): its vocabulary
#: is open (any keyword, at any depth, and unknown keywords are allowed by the specification).
JsonSchema = JsonObject

#: An OpenAPI 3.1 document or a part of one (a responses entry as FastAPI takes it, a path item):
#: open to ``x-`` extensions and to JSON Schema at many places.
OpenApi = JsonObject

#: The claims of a JWT: an open set (RFC 7519 §4: registered, public and private claim names).
JwtClaims = JsonObject

#: A JOSE header: an open set of header parameters (RFC 7515 §4).
JoseHeader = JsonObject

#: A JSON Web Key: its members depend on the key type (``kty``), and others may be present
#: (RFC 7517 §4).
Jwk = JsonObject

#: A JWK Set: ``keys`` (a list of :data:`Jwk`) and any other member (RFC 7517 §5).
JwkSet = JsonObject

#: An RFC 9457 problem: its standard members and any extension members (§3.2), which each problem
#: type defines (the refused fields, the two states of a refused transition).
ProblemJson = JsonObject

#: A JSON object another party sent, as it came: before its model reads it (an imported row, whose
#: kind's model is chosen from the row), or kept for people to review because it was refused. Until
#: read, or because refused, it may match no shape we expect.
AsReceived = JsonObject

#: The ``data`` of a CloudEvent of any type, as the envelope carries it: its model is chosen by the
#: event's ``type`` (``contracts.registry``), after the envelope is read.
EventData = JsonObject
