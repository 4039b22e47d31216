"""What an editor or an import may write, and the rules on it: the shapes of procedures,
online services and agencies, the checks on a form's JSON Schema, and who may edit what.

Pure Python (pydantic and jsonschema only).
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from jsonschema import Draft202012Validator, SchemaError
from jsonschema.validators import validator_for
from pydantic import Field, field_validator

from contracts.assurance import PASSWORD, AcrValue
from contracts.events.catalogue import MAX_FEES, DocumentComponent, Fee
from contracts.money import MAX_VND, total_within_bound
from services.kit.schemas import NotBlank, StrictModel

from .model import (
    VERSION_FIELDS,
    Agency,
    AgencyLevel,
    Faq,
    FormSchema,
    ImplementingLevel,
    OnlineLevel,
    Procedure,
    VersionDefinition,
)

# Bounds on what one definition may hold.
MAX_FORM_SCHEMA_BYTES = 64 * 1024
MAX_FORM_SCHEMA_DEPTH = 16
MAX_DOCUMENTS = 100
MAX_STEPS = 50
MAX_LIST_TEXTS = 100
MAX_FAQ = 100
MAX_TEXT = 2_000

# The JSON Schema dialects a form may declare (jsonschema implements all three).
FORM_SCHEMA_DIALECTS = frozenset(
    {
        "https://json-schema.org/draft/2020-12/schema",
        "https://json-schema.org/draft/2019-09/schema",
        "http://json-schema.org/draft-07/schema#",
    }
)

PROCEDURE_CODE = r"^[0-9]{1,4}\.[0-9]{1,12}$"
AGENCY_CODE = r"^[0-9A-Za-z.]{1,40}$"
SECTOR_CODE = r"^[0-9A-Za-z_.-]{1,20}$"
PROVINCE_CODE = r"^[0-9A-Za-z]{1,10}$"
ROUTING_TARGET = r"^[a-z][a-z0-9-]{0,30}:[0-9A-Za-z._-]{1,100}$"
REQUIRED_ACR = (
    "the level of assurance an applicant signs in at to file a dossier (an acr value, lowest first: "
    "password, mfa with a second factor, in-person with the national e-ID level 2); a token below it "
    "is refused with the RFC 9470 challenge"
)

# What the document states of a form's JSON Schema, the rules JSON Schema can spell: an object
# whose "type" is "object", of a known dialect, referring only to itself at its root. The rest
# (a valid schema of its dialect, at most MAX_FORM_SCHEMA_BYTES and MAX_FORM_SCHEMA_DEPTH levels)
# is said in words: the meta-schema is recursive, which client generators do not take.
FORM_SCHEMA_RULES: dict[str, object] = {
    "description": (
        'The JSON Schema of the application form: a schema of an object (`"type": "object"`), '
        "valid under its dialect's meta-schema (`$schema`: 2020-12 when absent, 2019-09 or draft-07), "
        f"at most {MAX_FORM_SCHEMA_BYTES} bytes and {MAX_FORM_SCHEMA_DEPTH} levels deep, with `$ref`s "
        "only inside itself (starting with `#`)."
    ),
    "required": ["type"],
    "properties": {
        "$schema": {"enum": sorted(FORM_SCHEMA_DIALECTS)},
        "type": {"const": "object"},
        "$ref": {"type": "string", "pattern": "^#"},
    },
}
# A form's JSON Schema as an editor gives it: schemaless JSON, checked by form_schema_problems.
FormSchemaInput = Annotated[FormSchema, Field(json_schema_extra=FORM_SCHEMA_RULES)]

Text = Annotated[str, Field(min_length=1, max_length=MAX_TEXT), NotBlank()]
Name = Annotated[str, Field(min_length=1, max_length=500), NotBlank()]

# Fixed namespace: the id of the online service of (procedure, agency) is the same everywhere,
# so an import of the same dataset twice, or the fixtures, update rather than duplicate.
SERVICE_NAMESPACE = uuid.UUID("6f1c2b1e-4a57-4d0e-9d3c-6b8f0f2a7c11")


def service_id(procedure_code: str, agency_code: str) -> str:
    """The id of the online service through which ``agency_code`` offers ``procedure_code``."""
    return str(uuid.uuid5(SERVICE_NAMESPACE, f"{procedure_code}@{agency_code}"))


class Definition(StrictModel):
    """What an editor writes: the kit's strict body (unknown fields refused, text bounded and
    stripped, no NUL or lone surrogate anywhere, the form schema's keys and titles included)."""


# One fee is at most this much, so the fees of one definition (at most MAX_FEES) always add up to an
# amount every consumer can store: a bound the API's document can state, where one on a sum it
# cannot (about 180 thousand billion dong a fee).
MAX_FEE_VND = MAX_VND // MAX_FEES


class FeeInput(Fee):
    """A fee as an editor or an import gives it: the contract's fee, at most :data:`MAX_FEE_VND`."""

    amount: int = Field(ge=0, le=MAX_FEE_VND, description=f"VND, whole dong, at most {MAX_FEE_VND}")

    def fee(self) -> Fee:
        """The fee as the catalogue keeps and publishes it."""
        return Fee(code=self.code, name=self.name, amount=self.amount, currency=self.currency,
                   condition=self.condition)  # fmt: skip


def _fees(fees: Sequence[Fee]) -> list[Fee]:
    """The fees as kept (an input's are :class:`FeeInput`; changes made in code carry kept ones)."""
    return [fee.fee() if isinstance(fee, FeeInput) else fee for fee in fees]


def _fees_sound(fees: Sequence[Fee]) -> None:
    """Fee codes are unique and the fees add up to an amount every consumer can store."""
    _unique_codes(fees, "fee")
    total_within_bound(fee.amount for fee in fees)


def _unique_codes(items: Iterable[Any], what: str) -> None:
    codes = [item.code for item in items]
    repeated = sorted({c for c in codes if codes.count(c) > 1})
    if repeated:
        raise ValueError(f"{what} codes must be unique; repeated: {', '.join(repeated)}")


class FaqEntry(Definition):
    question: Text
    answer: Text


class ProcedureFields(Definition):
    """A procedure's definition but its code: what an editor puts at the procedure's address."""

    name: Name
    sector_code: str = Field(pattern=SECTOR_CODE)
    # Needed only to create a sector the catalogue does not know yet.
    sector_name: Name | None = None
    level: ImplementingLevel
    steps: list[Text] = Field(default_factory=list, max_length=MAX_STEPS)
    documents: list[DocumentComponent] = Field(default_factory=list, max_length=MAX_DOCUMENTS)
    processing_days: int = Field(ge=0, le=3650)
    fees: list[FeeInput] = Field(default_factory=list, max_length=MAX_FEES)
    legal_basis: list[Text] = Field(default_factory=list, max_length=MAX_LIST_TEXTS)
    results: list[Text] = Field(default_factory=list, max_length=MAX_LIST_TEXTS)
    faq: list[FaqEntry] = Field(default_factory=list, max_length=MAX_FAQ)

    @field_validator("documents")
    @classmethod
    def _documents_unique(cls, value: list[DocumentComponent]) -> list[DocumentComponent]:
        _unique_codes(value, "document")
        return value

    @field_validator("fees")
    @classmethod
    def _fees_sound(cls, value: list[FeeInput]) -> list[FeeInput]:
        _fees_sound(value)
        return value


class ProcedureInput(ProcedureFields):
    """A procedure (thủ tục hành chính) as an editor or an import gives it."""

    code: str = Field(pattern=PROCEDURE_CODE)

    def procedure(self, sector_name: str) -> Procedure:
        """The procedure this defines (active; its revision is set when it is written)."""
        return Procedure(
            code=self.code, name=self.name, sector_code=self.sector_code, sector_name=sector_name, level=self.level,
            steps=list(self.steps), documents=list(self.documents), processing_days=self.processing_days,
            fees=_fees(self.fees), legal_basis=list(self.legal_basis), results=list(self.results),
        )  # fmt: skip

    def faq_entries(self) -> list[Faq]:
        return [Faq(entry.question, entry.answer) for entry in self.faq]


class _ServiceChecks(Definition):
    @field_validator("fees", check_fields=False)
    @classmethod
    def _fees_sound(cls, value: list[FeeInput] | None) -> list[FeeInput] | None:
        _fees_sound(value or [])
        return value

    @field_validator("form_schema", check_fields=False)
    @classmethod
    def _form_schema_is_sound(cls, value: FormSchema | None) -> FormSchema | None:
        problems = form_schema_problems(value) if value is not None else []
        if problems:
            raise ValueError("; ".join(problems))
        return value


class ServiceDefinition(_ServiceChecks):
    """What a version of an online service fixes: how online, the form, fees, time, routing."""

    online_level: OnlineLevel
    form_schema: FormSchemaInput
    fees: list[FeeInput] = Field(default_factory=list, max_length=MAX_FEES)
    processing_days: int = Field(ge=0, le=3650)
    routing_target: str = Field(pattern=ROUTING_TARGET)
    required_acr: AcrValue = Field(default=PASSWORD, description=REQUIRED_ACR)

    def definition(self) -> VersionDefinition:
        return VersionDefinition(
            online_level=self.online_level, form_schema=self.form_schema, fees=_fees(self.fees),
            processing_days=self.processing_days, routing_target=self.routing_target,
            required_acr=self.required_acr,
        )  # fmt: skip


class ServiceInput(ServiceDefinition):
    """A new online service: which agency offers which procedure, and its first version."""

    procedure_code: str = Field(pattern=PROCEDURE_CODE)
    agency_code: str = Field(pattern=AGENCY_CODE)


class ServiceDraftChanges(_ServiceChecks):
    """Fields of the draft to change; those left out keep their value."""

    online_level: OnlineLevel | None = None
    form_schema: FormSchemaInput | None = None
    fees: list[FeeInput] | None = Field(default=None, max_length=MAX_FEES)
    processing_days: int | None = Field(default=None, ge=0, le=3650)
    routing_target: str | None = Field(default=None, pattern=ROUTING_TARGET)
    required_acr: AcrValue | None = Field(default=None, description=REQUIRED_ACR)

    def given(self) -> dict[str, object]:
        """The fields to change. Only the top level's None means "left out": a fee's
        ``condition: null`` is kept, so what is stored compares equal to what an import gives."""
        return {name: getattr(self, name) for name in VERSION_FIELDS if getattr(self, name) is not None}

    def apply_to(self, d: VersionDefinition) -> VersionDefinition:
        """``d`` with the given fields changed."""
        return VersionDefinition(
            online_level=d.online_level if self.online_level is None else self.online_level,
            form_schema=d.form_schema if self.form_schema is None else self.form_schema,
            fees=d.fees if self.fees is None else _fees(self.fees),
            processing_days=d.processing_days if self.processing_days is None else self.processing_days,
            routing_target=d.routing_target if self.routing_target is None else self.routing_target,
            required_acr=d.required_acr if self.required_acr is None else self.required_acr,
        )


class AgencyInput(Definition):
    code: str = Field(pattern=AGENCY_CODE)
    name: Name
    level: AgencyLevel
    parent_code: str | None = Field(default=None, pattern=AGENCY_CODE)
    province_code: str | None = Field(default=None, pattern=PROVINCE_CODE)

    def agency(self) -> Agency:
        return Agency(self.code, self.name, self.level, self.parent_code, self.province_code)


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether objects and arrays nest in ``value`` more than ``limit`` levels; a loop, not a
    recursion, that stops at the first level too deep (a body may nest far deeper than Python
    recurses)."""
    level: list[Any] = [value]
    for _ in range(limit + 1):
        containers = [node for node in level if isinstance(node, dict | list)]
        if not containers:
            return False
        level = [item for node in containers for item in (node.values() if isinstance(node, dict) else node)]
    return True


def _refs(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "$ref":
                yield item
            yield from _refs(item)
    elif isinstance(value, list):
        for item in value:
            yield from _refs(item)


def _non_finite_at(value: Any, path: str = "$") -> str | None:
    """Where ``value`` holds NaN or an infinity (Python's JSON reader takes ``NaN`` and ``1e400``;
    JSON and PostgreSQL's jsonb have no such number), or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        if (found := _non_finite_at(item, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]")) is not None:
            return found
    return None


def form_schema_problems(schema: FormSchema) -> list[str]:
    """Why ``schema`` cannot be a form: too large or deep, holding a number JSON cannot carry,
    not a valid JSON Schema of a known dialect, not an object at its root, or referring outside
    itself. Empty when it can."""
    # The depth check comes before anything walks the schema recursively.
    if _deeper_than(schema, MAX_FORM_SCHEMA_DEPTH):
        return [f"the form schema nests deeper than {MAX_FORM_SCHEMA_DEPTH} levels"]
    if (where := _non_finite_at(schema)) is not None:
        return [f"the form schema holds a number JSON cannot carry (NaN or infinite) at {where}"]
    size = len(json.dumps(schema, ensure_ascii=False).encode())
    if size > MAX_FORM_SCHEMA_BYTES:
        return [f"the form schema is {size} bytes; at most {MAX_FORM_SCHEMA_BYTES} are allowed"]
    dialect = schema.get("$schema")
    if dialect is not None and (not isinstance(dialect, str) or dialect not in FORM_SCHEMA_DIALECTS):
        return [f"unsupported $schema {str(dialect)[:100]!r}; use one of {', '.join(sorted(FORM_SCHEMA_DIALECTS))}"]
    validator = validator_for(schema, default=Draft202012Validator)
    try:
        validator.check_schema(schema)
    except SchemaError as exc:
        where = exc.json_path if exc.path else "$"
        return [f"not a valid JSON Schema at {where}: {exc.message[:300]}"]
    problems = []
    if schema.get("type") != "object":
        problems.append('the form schema must describe an object ("type": "object")')
    if any(not isinstance(ref, str) or not ref.startswith("#") for ref in _refs(schema)):
        problems.append("the form schema may only refer to itself ($ref must start with #)")
    return problems


@dataclass(frozen=True)
class Editor:
    """Who edits: an administrator (``catalogue:admin``: everything), or an official
    (``catalogue:edit``) of the agencies in ``agencies``, for those agencies' services."""

    actor: str
    scopes: frozenset[str]
    agencies: frozenset[str] = frozenset()

    @property
    def is_admin(self) -> bool:
        return "catalogue:admin" in self.scopes

    def may_edit_service_of(self, agency_code: str) -> bool:
        return self.is_admin or ("catalogue:edit" in self.scopes and agency_code in self.agencies)

    def may_edit_procedures(self) -> bool:
        return self.is_admin
