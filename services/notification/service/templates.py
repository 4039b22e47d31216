"""Operators' templates: the current ones, a new version (checked), a preview; and version 1 of
each saved at first start."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.kit.errors import NotFound, ValidationFailed

from ..domain.notices import Kind
from ..domain.templates import DEFAULT_LANGUAGE, Language, Template, TemplateRefused, check, render
from .defaults import ENGLISH, VIETNAMESE
from .unit_of_work import NotificationUnitOfWork


def _refused(exc: TemplateRefused, location: str) -> ValidationFailed:
    return ValidationFailed([{"field": f, "location": location, "message": m} for f, m in exc.problems])


#: Who the portal's own versions are saved by.
PORTAL = "portal"


async def seed_templates(uow: NotificationUnitOfWork, now: datetime) -> int:
    """Version 1 of each default template that has none yet, and the next version of one whose
    current version is the portal's and says otherwise (the defaults changed; a version an
    operator saved is kept); how many were saved."""
    saved = 0
    languages: tuple[tuple[Language, dict[Kind, tuple[dict[str, str], dict[str, Any]]]], ...] = (
        ("vi", VIETNAMESE), ("en", ENGLISH),
    )  # fmt: skip
    for language, defaults in languages:
        for kind, (texts, variables) in defaults.items():
            check(texts, variables)
            current = await uow.templates.current(kind, language)
            if current is None:
                saved += await uow.templates.add(Template(kind, language, 1, texts, variables, now, PORTAL))
            elif current.saved_by == PORTAL and (current.texts, current.variables) != (texts, variables):
                saved += await uow.templates.add(
                    Template(kind, language, current.version + 1, texts, variables, now, PORTAL)
                )
    return saved


async def save(uow: NotificationUnitOfWork, kind: Kind, language: Language, texts: dict[str, str],
               variables: dict[str, Any], by: str, now: datetime) -> Template:  # fmt: skip
    """The next version of ``kind``'s template in ``language``, once its texts check out."""
    try:
        check(texts, variables)
    except TemplateRefused as exc:
        raise _refused(exc, "body") from exc
    current = await uow.templates.current(kind, language)
    template = Template(kind, language, (current.version if current else 0) + 1, texts, variables, now, by)
    if not await uow.templates.add(template):
        raise ValidationFailed([{"field": "version", "location": "body",
                                 "message": "Another version was saved at the same time; try again."}])  # fmt: skip
    return template


async def current(uow: NotificationUnitOfWork, kind: Kind, language: Language) -> Template:
    template = await uow.templates.current(kind, language)
    if template is None:
        raise NotFound("No template of this kind in this language.")
    return template


async def made(uow: NotificationUnitOfWork, kind: Kind, language: Language | None) -> Template:
    """The template a notice is made from: the person's language, else Vietnamese."""
    template = await uow.templates.current(kind, language or DEFAULT_LANGUAGE)
    if template is None and language != DEFAULT_LANGUAGE:
        template = await uow.templates.current(kind, DEFAULT_LANGUAGE)
    if template is None:
        raise LookupError(f"no template for {kind.value}")
    return template


@dataclass(frozen=True, slots=True)
class Preview:
    version: int
    texts: dict[str, str] | None
    problems: list[tuple[str, str]]


async def preview(uow: NotificationUnitOfWork, kind: Kind, language: Language, values: dict[str, Any],
                  texts: dict[str, str] | None, variables: dict[str, Any] | None) -> Preview:  # fmt: skip
    """What a notice would say: the current template, or texts or a schema not saved yet, made
    with ``values``; or, when it cannot be made, why (an operator's preview shows the problems
    rather than refusing the request)."""
    base = await uow.templates.current(kind, language)
    if base is None and (texts is None or variables is None):
        raise NotFound("No template of this kind in this language.")
    trying = texts is not None or variables is not None
    template = Template(kind, language, 0 if trying else base.version,  # type: ignore[union-attr]
                        texts if texts is not None else base.texts,  # type: ignore[union-attr]
                        variables if variables is not None else base.variables,  # type: ignore[union-attr]
                        datetime.min, "preview")  # fmt: skip
    try:
        if trying:
            check(template.texts, template.variables)
        return Preview(template.version, render(template, values).texts, [])
    except TemplateRefused as exc:
        return Preview(template.version, None, exc.problems)
