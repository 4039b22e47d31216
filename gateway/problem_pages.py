"""The page of every problem type: what ``/problems/<slug>`` (an error's ``type``) resolves to.

Every error the portal answers is an RFC 9457 problem whose ``type`` is the relative reference
``/problems/<slug>``; resolved against the gateway's public URL it is this page. The pages are
generated from the problem tables themselves: the gateway's own (``GATEWAY_PROBLEMS`` and the
kit's) and each service's, which its OpenAPI document lists as ``x-problem-types``
(``services.kit.app``) and the merged document gathers. A new problem in any table has its page
with no further edit. ``http-<status>`` (a framework's refusal of a status no table names) has
its status's page.

Browsers get HTML; ``Accept: application/json`` gets the entry as JSON; ``text/markdown`` gets
Markdown. ``/problems`` lists them all. The pages are public and served in production too.
"""

from __future__ import annotations

import html
import re
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse

from services.kit.errors import NotFound
from services.kit.problems import (
    PROBLEM_BASE,
    PROBLEM_TYPES,
    ProblemTable,
    ProblemType,
    ProblemTypeJson,
    problem_types,
    remedy_for,
    status_problem,
)

MARKDOWN = "text/markdown; charset=utf-8"
# A slug is what the tables write: lower-case words joined by hyphens.
SLUG = r"[a-z0-9]+(?:-[a-z0-9]+)*"
# The pages change only with a deployment; a day in caches is plenty.
CACHE_CONTROL = "public, max-age=86400"
_CODE = re.compile(r"`([^`]+)`")


def own_problem_types(table: ProblemTable) -> list[ProblemTypeJson]:
    """The gateway's own problem types (its table's and the kit's), as ``x-problem-types`` lists them."""
    return [problem_type.as_json() for problem_type in problem_types(table)]


async def catalogue(request: Request) -> dict[str, ProblemType]:
    """Every problem type the portal answers, by slug: those the merged document lists (the
    gateway's own first; a service that is down takes its own types' pages with it until it is
    back, but its errors are not being answered either)."""
    document = await request.app.state.openapi.document()
    entries = document.get(PROBLEM_TYPES) or []
    found: dict[str, ProblemType] = {}
    for entry in entries:
        problem_type = ProblemType.from_json(entry)
        found.setdefault(problem_type.type, problem_type)
    return found


def _wants(request: Request) -> str:
    """``html``, ``json`` or ``markdown``: the first of them the ``Accept`` header names, by
    quality then order; HTML when it names none (a browser, or no header)."""
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(request.headers.get("accept", "").split(",")):
        media, *params = (piece.strip() for piece in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        kind = {"text/html": "html", "application/xhtml+xml": "html", "application/json": "json",
                "application/problem+json": "json", "text/markdown": "markdown"}.get(media.lower())  # fmt: skip
        if kind is not None and quality > 0:
            ranked.append((-quality, position, kind))
    return min(ranked)[2] if ranked else "html"


def _inline(text: str) -> str:
    """Escaped text whose `code` spans are ``<code>``."""
    return _CODE.sub(r"<code>\1</code>", html.escape(text))


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
</head>
<body>
<main>
{body}
</main>
</body>
</html>
"""


def _html_page(problem_type: ProblemType) -> str:
    statuses = ", ".join(str(status) for status in problem_type.statuses)
    headers = ", ".join(f"<code>{html.escape(name)}</code>" for name in problem_type.headers)
    body = [
        f"<h1>{html.escape(problem_type.title)}</h1>",
        "<dl>",
        f"<dt>Type</dt><dd><code>{html.escape(problem_type.uri)}</code></dd>",
        f"<dt>HTTP status</dt><dd>{statuses}</dd>",
        *([f"<dt>Headers</dt><dd>{headers}</dd>"] if headers else []),
        "</dl>",
        "<h2>When it happens</h2>",
        f"<p>{_inline(problem_type.description)}</p>",
        "<h2>What to do</h2>",
        f"<p>{_inline(problem_type.remedy)}</p>",
        "<p>The answer is an RFC 9457 problem (<code>application/problem+json</code>): <code>detail</code> "
        "says what went wrong with this request, and <code>request_id</code> identifies it to support.</p>",
        f'<p><a href="{PROBLEM_BASE.rstrip("/")}">Every problem type</a></p>',
    ]
    return _PAGE.format(title=html.escape(problem_type.title), body="\n".join(body))


def _markdown_page(problem_type: ProblemType) -> str:
    statuses = ", ".join(str(status) for status in problem_type.statuses)
    lines = [f"# {problem_type.title}", "", f"- Type: `{problem_type.uri}`", f"- HTTP status: {statuses}"]
    if problem_type.headers:
        lines.append("- Headers: " + ", ".join(f"`{name}`" for name in problem_type.headers))
    lines += ["", "## When it happens", "", problem_type.description, "", "## What to do", "", problem_type.remedy]
    return "\n".join(lines) + "\n"


def _index_html(types: Mapping[str, ProblemType]) -> str:
    rows = "\n".join(
        f'<li><a href="{html.escape(t.uri)}"><code>{html.escape(t.type)}</code></a> '
        f"({', '.join(map(str, t.statuses))}): {html.escape(t.title)}</li>"
        for t in types.values()
    )
    return _PAGE.format(title="Problem types", body=f"<h1>Problem types</h1>\n<ul>\n{rows}\n</ul>")


def _index_markdown(types: Mapping[str, ProblemType]) -> str:
    rows = [f"- [`{t.type}`]({t.uri}) ({', '.join(map(str, t.statuses))}): {t.title}" for t in types.values()]
    return "\n".join(["# Problem types", "", *rows]) + "\n"


def _answer(request: Request, as_html: str, as_markdown: str, as_json: Any) -> Response:
    headers = {"Cache-Control": CACHE_CONTROL, "Vary": "Accept"}
    match _wants(request):
        case "json":
            return JSONResponse(as_json, headers=headers)
        case "markdown":
            return Response(as_markdown, media_type=MARKDOWN, headers=headers)
        case _:
            return HTMLResponse(as_html, headers=headers)


def problems_router() -> APIRouter:
    """``/problems`` (the list) and ``/problems/<slug>`` (one problem type's page)."""
    router = APIRouter(include_in_schema=False)
    base = PROBLEM_BASE.rstrip("/")

    @router.get(base)
    async def problem_index(request: Request) -> Response:
        types = dict(sorted((await catalogue(request)).items()))
        return _answer(request, _index_html(types), _index_markdown(types), [t.as_json() for t in types.values()])

    @router.get(base + "/{slug}")
    async def problem_page(request: Request, slug: str) -> Response:
        problem_type = (await catalogue(request)).get(slug) if re.fullmatch(SLUG, slug) else None
        if problem_type is None and (problem := status_problem(slug)) is not None:
            problem_type = ProblemType(slug, problem.title, (problem.status,), problem.description,
                                       remedy_for(problem.status))  # fmt: skip
        if problem_type is None:
            raise NotFound("No problem type has this name.")
        return _answer(request, _html_page(problem_type), _markdown_page(problem_type), problem_type.as_json())

    return router
