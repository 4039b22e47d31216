"""Security headers on every answer of the gateway (OWASP's REST and API guidance).

The API answers JSON (and a few images and files): nothing in it is meant to be sniffed into
another type, framed, or sent on as a referrer, and an answer to a request that carried
credentials must not be kept by a shared cache unless the service said it may. A service's own
value of any of these headers wins (the sign-in page sets its own CSP and framing rules).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

DEFAULTS: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'"),
)
DOCS_PREFIX = "/docs"  # Swagger UI runs scripts and styles of its own: its pages keep a CSP of none


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, https: bool = False) -> None:
        self.app = app
        self.https = https

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        credentialed = any(name in (b"authorization", b"cookie") for name, _ in scope["headers"])
        docs = scope["path"] == DOCS_PREFIX or scope["path"].startswith(DOCS_PREFIX + "/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                for name, value in DEFAULTS:
                    if name not in present and not (docs and name == b"content-security-policy"):
                        headers.append((name, value))
                if credentialed and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if self.https and b"strict-transport-security" not in present:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
