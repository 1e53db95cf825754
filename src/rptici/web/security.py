"""What protects the dashboard from other web pages and from oversized requests (issue 19, item 9).

:class:`RequestGuard` is a plain ASGI middleware that, before any route runs:

- refuses a state-changing request (POST, PUT, PATCH, DELETE) that a browser sent from another origin: its
  ``Origin`` (or, without one, its ``Referer``) must name this server's own host; ``Origin: null`` (a ``file://``
  page, a sandboxed frame) is refused too. Requests without either header (curl, scripts) are not cross-site
  requests of a browser and pass (OWASP CSRF Prevention Cheat Sheet, "Verifying origin with standard headers");
- refuses a request body larger than ``max_body_bytes`` (HTTP 413) or of unknown length (411) before reading it;
- adds to every response the headers that keep pages from being framed or sniffed: ``X-Frame-Options: DENY``,
  a ``Content-Security-Policy`` (own origin only; inline scripts and styles for the plotly figures),
  ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy: same-origin``.

Each form field is also capped in length (:data:`rptici.web.forms.MAX_FIELD_CHARACTERS`) before it is parsed.
"""

from __future__ import annotations

from typing import Any, Awaitable, Callable
from urllib.parse import urlsplit

UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
SECURITY_HEADERS = (
    (b"x-frame-options", b"DENY"),
    (b"content-security-policy", b"default-src 'self'; script-src 'self' 'unsafe-inline'; "
                                 b"style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
                                 b"form-action 'self'; base-uri 'none'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def same_origin(source: str | None, host: str | None) -> bool:
    """Whether an ``Origin`` or ``Referer`` value names the server reached as ``host`` (host[:port])."""
    if not source or source == "null" or not host:
        return False
    return urlsplit(source).netloc.lower() == host.lower()


class RequestGuard:
    """ASGI middleware: cross-site refusal, body-size cap and security headers (module docstring)."""

    def __init__(self, app: Callable, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is not None:
            status, message = refusal
            await send({"type": "http.response.start", "status": status,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8"), *SECURITY_HEADERS]})
            await send({"type": "http.response.body", "body": message.encode()})
            return

        async def send_with_headers(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                names = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [*message.get("headers", []),
                                      *(header for header in SECURITY_HEADERS if header[0] not in names)]
            await send(message)

        await self.app(scope, receive, send_with_headers)

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) of a request refused before any route reads it, else None."""
        if scope["method"] not in UNSAFE_METHODS:
            return None
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        origin, referer, host = headers.get("origin"), headers.get("referer"), headers.get("host")
        if origin is not None or referer is not None:
            if not same_origin(origin if origin is not None else referer, host):
                return 403, "refused: a request from another web page (Origin/Referer is not this dashboard)"
        length = headers.get("content-length")
        if length is None:
            return 411, "refused: a request body needs a Content-Length"
        if not length.isdigit() or int(length) > self.max_body_bytes:
            return 413, f"refused: a request body of at most {self.max_body_bytes} bytes"
        return None
