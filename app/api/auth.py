"""Authentication at the door, authorization on each route.

``Authentication`` (pure ASGI, outermost) resolves the bearer key before anything else runs —
a request without a valid key never reaches a body parser, a route or the database beyond
one cached lookup — and applies the key's rate limit. Routes then state the scope they need
with ``require(scope)``, which also documents it in the OpenAPI document. A WebSocket is
refused before it is accepted: a 401/403/429 HTTP answer where the server supports the denial
extension (uvicorn does), a close before accept (seen as 403) otherwise.
"""

from __future__ import annotations

import math
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import Depends, Security
from fastapi.openapi.models import HTTPBearer as HTTPBearerModel
from fastapi.security import SecurityScopes
from fastapi.security.base import SecurityBase
from starlette.exceptions import WebSocketException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send
from starlette.websockets import WebSocket

from app.api.problems import ProblemError, problem_response
from app.keys.keyring import UNKNOWN, KeyRing
from app.keys.material import looks_like_key
from app.keys.ratelimit import RateLimiter
from app.keys.store import Principal

PRINCIPAL = "sluice.principal"
PUBLIC_PATHS = frozenset(
    {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}
)
PUBLIC_PREFIXES = ("/console/",)  # the console's static files: the page asks for the key
PROBLEM_DOCS = "/problems/"


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path == "/console" or path.startswith(PUBLIC_PREFIXES)


class Authentication:
    def __init__(self, app: ASGIApp, *, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        key = _presented_key(scope)
        principal: Principal | None = None
        if key is not None:
            keyring: KeyRing = scope["app"].state.keyring
            found = keyring.cached(key)  # the usual case: no await, no query
            principal = await keyring.resolve(key) if found is UNKNOWN else found  # type: ignore[assignment]
        if principal is None:
            detail = "send a valid API key: Authorization: Bearer sk_…" + (
                " (or ?access_token= on a WebSocket)" if scope["type"] == "websocket" else ""
            )
            response = problem_response(
                None,
                401,
                "unauthenticated",
                "Not authenticated",
                detail if key is None else "the API key is unknown or revoked",
                {"WWW-Authenticate": 'Bearer realm="sluice"'},
                instance=scope["path"],
            )
            await refuse(scope, receive, send, response)
            return
        wait = self.limiter.retry_after(principal.key_id, principal.rate_limit_per_second)
        if wait > 0:
            response = problem_response(
                None,
                429,
                "rate-limited",
                "Too many requests",
                f"this key's rate limit is reached; retry in {wait:.2f} s",
                {"Retry-After": str(max(1, math.ceil(wait)))},
                instance=scope["path"],
            )
            await refuse(scope, receive, send, response)
            return
        scope[PRINCIPAL] = principal
        await self.app(scope, receive, send)


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


async def refuse(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    if scope["type"] == "http":
        await response(scope, receive, send)
        return
    websocket = WebSocket(scope, receive, send)
    if "websocket.http.response" in scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(1008)


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
        if scope["type"] == "websocket":
            raise WebSocketException(1008, detail)
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
