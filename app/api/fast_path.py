"""A fast path ahead of FastAPI's routing, for the one route that carries the load.

Commands are the hottest requests by far, and FastAPI's generic route matching and body
handling cost more CPU than deciding and appending a command. A ``FastRoute`` (the journal's
``CommandRoute``) matches with a dict lookup and answers with raw ASGI messages; what it
refuses is rendered by the app's own exception handlers (the same problem+json as anywhere),
and every other request goes on to FastAPI untouched. The route's parsing rules are the ones
the documented FastAPI route uses: the package that owns the route shares one parser
between the two.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send


class FastRoute(Protocol):
    def match(self, scope: Scope) -> Any | None:
        """What to answer (anything the route needs), or None: not this route's request."""

    async def answer(
        self, scope: Scope, receive: Receive, target: Any
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        """Status, raw headers and body; raising refuses the request (rendered as a problem)."""

    def refused(self, scope: Scope, target: Any, error: Exception) -> None:
        """Told of each refusal (for metrics)."""


class FastPath:
    def __init__(self, app: ASGIApp, *, route: FastRoute) -> None:
        self.app = app
        self.route = route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        target = self.route.match(scope)
        if target is None:
            await self.app(scope, receive, send)
            return
        try:
            status, headers, body = await self.route.answer(scope, receive, target)
        except Exception as error:
            self.route.refused(scope, target, error)
            await render(scope, receive, send, error)
            return
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


async def render(scope: Scope, receive: Receive, send: Send, error: Exception) -> None:
    """Answer with the app's own handler for this error (problem+json), as FastAPI would."""
    handlers = scope["app"].exception_handlers
    for cls in type(error).__mro__:
        handler = handlers.get(cls)
        if handler is not None:
            response = await handler(Request(scope, receive), error)
            await response(scope, receive, send)
            return
    raise error
