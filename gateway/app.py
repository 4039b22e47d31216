"""Composition root of the gateway: ``create_app(settings)``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx
from fastapi import FastAPI, Request, Response
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from services.kit.auth import JWKSCache, TokenVerifier
from services.kit.dpop import ProofChecker
from services.kit.health import health_router
from services.kit.heap import settle_heap
from services.kit.http import RequestContextMiddleware
from services.kit.logging import configure_logging, get_logger
from services.kit.problems import install_problem_handlers
from services.kit.ratelimit import TokenBucketLimiter
from services.kit.settings import Environment
from services.kit.tracing import configure as configure_tracing
from services.kit.tracing import flush as flush_spans

from .headers import SecurityHeadersMiddleware
from .openapi import DOCS_STATIC, OpenAPIAggregator, docs_assets, docs_router
from .problem_pages import own_problem_types, problems_router
from .proxy import GATEWAY_PROBLEMS, forward
from .ratelimit import RateLimitMiddleware
from .readiness import readiness_router
from .settings import GatewaySettings
from .upstream import UpstreamPool

log = get_logger(__name__)

TITLE = "National public-service portal API"
VERSION = "1.0.0"
CORS_ALLOW_HEADERS = ["Authorization", "DPoP", "Content-Type", "Accept", "Accept-Language", "Idempotency-Key",
                      "X-Request-ID", "X-Correlation-ID", "traceparent"]  # fmt: skip
# Browsers hide response headers outside the CORS safelist unless they are named here.
# WWW-Authenticate: a web frontend reads the step-up challenge (RFC 9470) of a refused request.
CORS_EXPOSE_HEADERS = ["X-Request-ID", "X-Correlation-ID", "traceparent", "Retry-After", "Location",
                       "Content-Disposition", "WWW-Authenticate"]  # fmt: skip
# Below uvicorn's 5 s keep-alive, so the gateway never reuses a connection a service is closing.
KEEPALIVE_EXPIRY_SECONDS = 4.0


def upstream_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """The one pooled client every probe, document fetch and key fetch shares (forwarded
    requests go through ``upstream.UpstreamPool``)."""
    timeout = httpx.Timeout(
        connect=settings.connect_timeout_seconds,
        read=settings.upstream_timeout_seconds,
        write=settings.upstream_timeout_seconds,
        pool=settings.connect_timeout_seconds,
    )
    limits = httpx.Limits(
        max_connections=settings.upstream_max_connections,
        max_keepalive_connections=settings.upstream_max_connections,
        keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
    )
    # Redirects are the client's business: a proxy passes them through untouched.
    # The client is shared by every user: it must never keep a cookie, or one person's session
    # cookie from a service would ride along on everyone else's requests.
    no_cookies = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    return httpx.AsyncClient(
        timeout=timeout, limits=limits, follow_redirects=False, trust_env=False, cookies=no_cookies
    )


def upstream_pool(settings: GatewaySettings, url: str) -> UpstreamPool:
    """The connections forwarded requests take to one service."""
    return UpstreamPool(
        url, max_connections=settings.upstream_max_connections, connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.upstream_timeout_seconds, keepalive_expiry=KEEPALIVE_EXPIRY_SECONDS,
    )  # fmt: skip


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level, settings.log_json)
    configure_tracing("gateway", settings.otlp_endpoint)
    # The kit turns uvicorn's access line off (it carries the query string); the gateway logs
    # each forwarded request itself, without it (gateway.proxy).

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pools = {name: upstream_pool(settings, url) for name, url in settings.upstreams.items()}
        async with upstream_client(settings) as client:
            app.state.client = client
            app.state.pools = pools
            app.state.verifiers = _verifiers(settings, client) if settings.verify_tokens else None
            app.state.openapi = OpenAPIAggregator(
                client, settings.upstreams, ttl=settings.openapi_cache_seconds,
                timeout=settings.readiness_timeout_seconds, title=TITLE, version=VERSION,
                problem_types=own_problem_types(GATEWAY_PROBLEMS),
            )  # fmt: skip
            settle_heap()
            log.info("gateway started", host=settings.host, port=settings.port, upstreams=settings.upstreams)
            try:
                yield
            finally:
                for pool in pools.values():
                    await pool.aclose()
                flush_spans()

    app = FastAPI(title=TITLE, version=VERSION, lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.state.settings = settings
    install_problem_handlers(app, GATEWAY_PROBLEMS)
    app.include_router(health_router("gateway"))  # its /readyz is gateway.readiness
    app.include_router(readiness_router())
    app.include_router(docs_router(TITLE))
    app.include_router(problems_router())  # what every error's ``type`` resolves to, production too
    if settings.environment != Environment.PRODUCTION:  # the interactive docs are not served there
        app.mount(DOCS_STATIC, docs_assets(settings), name="docs-static")
    # Last, so that every path the gateway answers itself is matched first. Every method is
    # forwarded (no list of them): the service says which ones a resource supports, so a 405 and
    # its Allow header always come from the service that knows (RFC 9110 §15.5.6).
    app.router.routes.append(Route("/{path:path}", _Forward(), include_in_schema=False))
    _add_middleware(app, settings)
    return app


def _verifiers(settings: GatewaySettings, client: httpx.AsyncClient) -> dict[str, TokenVerifier]:
    """One verifier per service (its audience), sharing one cached JWKS and one memory of the
    DPoP proofs seen (a proof is for one request, whichever service it goes to)."""
    jwks = JWKSCache(settings.jwks_url, client=client)
    proofs = ProofChecker(settings.public_url)
    return {
        name: TokenVerifier(
            jwks, issuer=settings.public_url, audience=name, remember=settings.token_memory, proofs=proofs
        )
        for name in settings.upstreams
    }


async def _proxy(request: Request) -> Response:
    state = request.app.state
    return await forward(request, state.pools, state.settings.retry_after_seconds, state.verifiers)


class _Forward:
    """The forwarding route's ASGI app: an app, not a function, so that Starlette's route takes
    every method rather than GET alone."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = await _proxy(Request(scope, receive, send))
        await response(scope, receive, send)


def _add_middleware(app: FastAPI, settings: GatewaySettings) -> None:
    # Added innermost first. Request ids wrap the rate limiter so a 429 carries one; CORS
    # wraps everything so browsers can read every answer, errors included.
    if settings.rate_limit_per_minute:
        limiter = TokenBucketLimiter(
            settings.rate_limit_per_minute, settings.rate_limit_burst, settings.rate_limit_max_clients
        )
        app.add_middleware(RateLimitMiddleware, limiter=limiter)
    app.add_middleware(RequestContextMiddleware, max_body_bytes=settings.max_body_bytes,
                       body_idle_seconds=settings.body_idle_seconds)  # fmt: skip
    app.add_middleware(SecurityHeadersMiddleware, https=settings.public_url.startswith("https://"))
    # Without configured origins no browser origin is let in; requests pass as they are.
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
            allow_headers=CORS_ALLOW_HEADERS,
            expose_headers=CORS_EXPOSE_HEADERS,
            max_age=600,
        )
