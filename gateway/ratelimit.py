"""Rate limiting per client address: an in-process token bucket per client.

The buckets live in the gateway process. With several gateway replicas (or uvicorn
workers) every process keeps its own, so the limit is per replica: a client spread over
N replicas by the load balancer gets up to N times the configured rate. A global limit
would need a shared store; the per-replica bound is what this gives.
"""

from __future__ import annotations

import math

from starlette.datastructures import Headers
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from services.kit.errors import RateLimited
from services.kit.problems import Problem, error_response, problem_for
from services.kit.ratelimit import TokenBucketLimiter


class RateLimitMiddleware:
    """Answers 429 with ``Retry-After`` once a client address has spent its tokens."""

    # Probes come from the orchestrator and must never be throttled into "not alive".
    EXEMPT = frozenset({"/healthz", "/readyz"})

    def __init__(self, app: ASGIApp, *, limiter: TokenBucketLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.EXEMPT:
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.limiter.acquire(client[0] if client else "unknown")
        if not wait:
            await self.app(scope, receive, send)
            return
        error = RateLimited(max(1, math.ceil(wait)))
        response: Response
        if scope["path"] in BROWSER_PAGES and _wants_html(Headers(scope=scope).get("accept", "")):
            response = _page(problem_for(error))
        else:
            response = error_response(error, instance=scope["path"])
        await response(scope, receive, send)


# The sign-in and logout pages are opened by browsers: their refusals are pages, as the identity
# service's own are (the OpenAPI document states text/html, and problem+json for a client that
# asks for it with Accept).
BROWSER_PAGES = frozenset({"/oauth2/authorize", "/oauth2/logout", "/oauth2/eid/start", "/oauth2/eid/callback"})
_PAGE = """<!doctype html>
<html lang="vi"><head><meta charset="utf-8"><title>Quá nhiều yêu cầu / Too many requests</title></head>
<body><main><h1>Quá nhiều yêu cầu</h1><p role="alert">Vui lòng thử lại sau {seconds} giây.</p>
<p lang="en">Too many requests. Please try again in {seconds} seconds.</p></main></body></html>
"""


def _wants_html(accept: str) -> bool:
    """A page unless the client asks for JSON and not for HTML."""
    accept = accept.lower()
    return "text/html" in accept or "json" not in accept


def _page(problem: Problem) -> Response:
    seconds = problem.headers["Retry-After"]
    headers = {**problem.headers, "Cache-Control": "no-store",
               "Content-Security-Policy": "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"}  # fmt: skip
    return HTMLResponse(_PAGE.format(seconds=seconds), status_code=problem.status, headers=headers)
