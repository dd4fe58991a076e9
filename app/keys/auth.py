"""Authentication at the door, authorization on each route.

``Authentication`` (pure ASGI, outermost) resolves the bearer key before anything else runs —
a request without a valid key never reaches a body parser, a route or the database beyond
one cached lookup — and applies the key's rate limit. Routes then state the scope they need
with ``require(scope)``, which also documents it in the OpenAPI document. A WebSocket is
refused before it is accepted: a 401/403/429 HTTP answer where the server supports the denial
extension (uvicorn does), a close before accept (seen as 403) otherwise.
"""

from __future__ import annotations

import logging
import math
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from app.api.logs import KEY_NAME
from app.api.problems import ProblemError, problem_response
from app.api.refusals import refuse
from app.db.outages import OUTAGE_ERRORS
from app.keys.keyring import KeyRing
from app.keys.material import looks_like_key
from app.keys.ratelimit import FailureThrottle, RateLimiter
from app.keys.store import Principal
from app.runtime import runtime_of

log = logging.getLogger("sluice.auth")

PRINCIPAL = "sluice.principal"
PUBLIC_PATHS = frozenset({"/healthz", "/readyz", "/openapi.json", "/docs", "/redoc"})
# Static files: the console's and the API docs' (their pages ask for a key themselves).
PUBLIC_PREFIXES = ("/console/", "/docs/assets/")
PROBLEM_DOCS = "/problems/"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path == "/console" or path.startswith(PUBLIC_PREFIXES)


class Authentication:
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter, failures: FailureThrottle) -> None:
        self.app = app
        self.limiter = limiter
        self.failures = failures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = _presented_key(scope)
        keyring = runtime_of(scope).keyring
        principal = keyring.cached(key) if key is not None else None  # usually: no await
        if principal is None:
            refusal = await self._authenticate(scope, key, keyring)
            if isinstance(refusal, Response):
                await refuse(scope, receive, send, refusal)
                return
            principal = refusal
        wait = self.limiter.retry_after(principal.key_id, principal.rate_limit_per_second)
        if wait > 0:
            detail = f"this key's rate limit is reached; retry in {wait:.2f} s"
            too_many = _too_many(scope, "rate-limited", "Too many requests", detail, wait)
            await refuse(scope, receive, send, too_many)
            return
        scope[PRINCIPAL] = principal
        scope[KEY_NAME] = principal.name
        await self.app(scope, receive, send)

    async def _authenticate(
        self, scope: Scope, key: str | None, keyring: KeyRing
    ) -> Principal | Response:
        """A key the ring does not hold: look it up, unless this address has failed too
        often lately (a lookup is a query; a wrong key is never cached)."""
        if key is None:
            hint = " (or ?access_token= on a WebSocket)" if scope["type"] == "websocket" else ""
            return _unauthenticated(
                scope, f"send a valid API key: Authorization: Bearer sk_…{hint}"
            )
        address = _client_address(scope)
        wait = 0.0 if keyring.vouched(key) else self.failures.retry_after(address)
        if wait > 0:
            detail = f"too many unknown or revoked keys from this address; retry in {wait:.1f} s"
            title = "Too many failed authentications"
            return _too_many(scope, "too-many-failed-authentications", title, detail, wait)
        try:
            principal = await keyring.resolve(key)
        except OUTAGE_ERRORS as error:
            log.warning("cannot check an API key: database unavailable (%s)", error)
            return problem_response(
                None,
                503,
                "database-unavailable",
                "Database unavailable",
                "the API key cannot be checked now; retry shortly",
                {"Retry-After": "2"},
                instance=scope["path"],
            )
        if principal is None:
            self.failures.failed(address)
            return _unauthenticated(scope, "the API key is unknown or revoked")
        return principal


def _unauthenticated(scope: Scope, detail: str) -> Response:
    return problem_response(
        None,
        401,
        "unauthenticated",
        "Not authenticated",
        detail,
        {"WWW-Authenticate": 'Bearer realm="sluice"'},
        instance=scope["path"],
    )


def _too_many(scope: Scope, slug: str, title: str, detail: str, wait: float) -> Response:
    headers = {"Retry-After": _seconds(wait)}
    return problem_response(None, 429, slug, title, detail, headers, instance=scope["path"])


def _client_address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


def _seconds(wait: float) -> str:
    """A Retry-After value: whole seconds, at least one."""
    return str(max(1, math.ceil(wait)))


def _presented_key(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, credentials = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and looks_like_key(credentials.strip()):
                return credentials.strip()
            return None
    if scope["type"] == "websocket":
        for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1")):
            if name == "access_token" and looks_like_key(value):
                return value
    return None


def principal_of(scope: Scope) -> Principal | None:
    return scope.get(PRINCIPAL)


class ApiKeyScheme(SecurityBase):
    """The bearer scheme, as OpenAPI documents it; the key was checked at the door."""

    def __init__(self) -> None:
        self.model = HTTPBearerModel(
            bearerFormat="sk_…",
            description="An API key: `Authorization: Bearer sk_…`. Each operation lists "
            "the scope it needs; a key with `admin` may do everything.",
        )
        self.scheme_name = "apiKey"

    async def __call__(self, connection: HTTPConnection) -> Principal:
        return check_scopes(connection.scope)


api_key = ApiKeyScheme()


def check_scopes(scope: Scope, *needed: str) -> Principal:
    """The caller, if its key holds every scope in ``needed``; else a 401/403 problem."""
    principal = principal_of(scope)
    if principal is None:  # only if the Authentication middleware is not installed
        raise ProblemError(401, "unauthenticated", "Not authenticated")
    missing = [name for name in needed if not principal.allows(name)]
    if missing:
        detail = f"this key lacks the scope {', '.join(missing)}"
        raise ProblemError(403, "forbidden", "Not allowed", detail, required_scopes=missing)
    return principal


async def _authorize(
    connection: HTTPConnection,
    security_scopes: SecurityScopes,
    _documented: Annotated[Principal, Depends(api_key)],
) -> Principal:
    return check_scopes(connection.scope, *security_scopes.scopes)


def require(scope: str) -> Any:
    """A route dependency: the caller's key must hold ``scope`` (or ``admin``)."""
    return Security(_authorize, scopes=[scope])
