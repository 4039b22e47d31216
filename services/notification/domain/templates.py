"""Templates: the words of each kind of notice, per language, versioned. Pure Python (Jinja2
and jsonschema are libraries, not infrastructure).

A template names its variables in a JSON Schema. Saving one checks that every placeholder in its
texts is a declared variable (a typo is refused then, not found when a citizen gets "{{ cod }}");
making a message checks the values against the schema. Placeholders are Jinja2 expressions
rendered in a sandbox with strict undefined names; the HTML body escapes values, the others are
plain text. Saving never changes a version: it adds the next one, and messages name the version
they were made from.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal

import jsonschema
from jinja2 import StrictUndefined, TemplateSyntaxError, meta
from jinja2 import Template as JinjaTemplate
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import SandboxedEnvironment

from .notices import Kind

Language = Literal["vi", "en"]
#: Vietnamese first: a person with no language, or one a template lacks, gets Vietnamese.
DEFAULT_LANGUAGE: Language = "vi"

# The texts of a template and the most characters each may hold.
LIMITS: dict[str, int] = {
    "subject": 200, "email_text": 10_000, "email_html": 20_000, "sms": 612, "push_title": 100,
    "push_body": 400, "inbox_title": 200, "inbox_body": 2_000,
}  # fmt: skip
TEXTS = tuple(LIMITS)
MAX_VARIABLES = 30

_plain = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
_html = SandboxedEnvironment(undefined=StrictUndefined, autoescape=True)


class TemplateRefused(ValueError):
    """A template or its values that cannot be used; ``problems`` lists each (field, message)."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{f}: {m}" for f, m in problems))
        self.problems = problems


@dataclass(frozen=True, slots=True)
class Template:
    kind: Kind
    language: Language
    version: int
    texts: dict[str, str]  # each of TEXTS
    variables: dict[str, Any]  # a JSON Schema of an object
    saved_at: datetime
    saved_by: str


@dataclass(frozen=True, slots=True)
class Rendered:
    """A template made with one set of values."""

    kind: Kind
    language: Language
    version: int
    texts: dict[str, str]


def _environment(name: str) -> SandboxedEnvironment:
    return _html if name == "email_html" else _plain


@lru_cache(maxsize=4096)
def _compiled(html: bool, text: str) -> JinjaTemplate:
    """A text compiled once (compiling was half the worker's CPU when each notice did it again);
    a template's texts never change, a new version is new texts."""
    return (_html if html else _plain).from_string(text)


def check(texts: dict[str, str], variables: dict[str, Any]) -> None:
    """Refuse texts with a missing part, one too long, a syntax error or an undeclared variable,
    and a schema that is not a JSON Schema of an object with at most ``MAX_VARIABLES``."""
    problems: list[tuple[str, str]] = []
    try:
        jsonschema.Draft202012Validator.check_schema(variables)
    except jsonschema.SchemaError as exc:
        problems.append(("variables", f"not a JSON Schema: {exc.message}"))
    declared = variables.get("properties") if isinstance(variables, dict) else None
    if variables.get("type") != "object" or not isinstance(declared, dict):
        problems.append(("variables", "the schema must be an object with its properties named"))
        declared = {}
    elif len(declared) > MAX_VARIABLES:
        problems.append(("variables", f"at most {MAX_VARIABLES} variables"))
    for name, limit in LIMITS.items():
        text = texts.get(name)
        if text is None:
            if name != "email_html":
                problems.append((name, "missing"))
            continue
        if len(text) > limit:
            problems.append((name, f"at most {limit} characters"))
            continue
        try:
            used = meta.find_undeclared_variables(_environment(name).parse(text))
        except TemplateSyntaxError as exc:
            problems.append((name, f"line {exc.lineno}: {exc.message}"))
            continue
        for unknown in sorted(used - set(declared)):
            problems.append((name, f"uses '{unknown}', which the variables do not declare"))
    unknown_texts = sorted(set(texts) - set(TEXTS))
    if unknown_texts:
        problems.append(("texts", f"unknown parts: {', '.join(unknown_texts)}"))
    if problems:
        raise TemplateRefused(problems)


def render(template: Template, values: dict[str, Any]) -> Rendered:
    """The template made with ``values``, which must satisfy its schema."""
    errors = sorted(jsonschema.Draft202012Validator(template.variables).iter_errors(values), key=lambda e: e.path)
    if errors:
        raise TemplateRefused([("/".join(map(str, e.path)) or "values", e.message) for e in errors])
    made: dict[str, str] = {}
    for name, text in template.texts.items():
        try:
            made[name] = _compiled(name == "email_html", text).render(values).strip()
        except (UndefinedError, SecurityError, TypeError) as exc:
            raise TemplateRefused([(name, str(exc))]) from exc
    return Rendered(template.kind, template.language, template.version, made)
