"""Refusing a request before the app runs it: an HTTP answer, for WebSocket upgrades too.

A WebSocket refused with the ASGI denial extension (uvicorn has it) gets the same problem+json
answer and status (401, 403, 429, 503) as a plain request, instead of a bare close that the
client sees as 403 with an empty body.
"""

from __future__ import annotations

import contextvars

from starlette.responses import Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket

POLICY_VIOLATION = 1008

# Set when this task refused a WebSocket upgrade with an HTTP answer: uvicorn then logs an
# ERROR ("returned without completing handshake") for what was a deliberate refusal.
upgrade_refused: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "sluice_upgrade_refused", default=False
)


async def refuse(scope: Scope, receive: Receive, send: Send, response: Response) -> None:
    if scope["type"] == "http":
        await response(scope, receive, send)
        return
    upgrade_refused.set(True)
    websocket = WebSocket(scope, receive, send)
    if "websocket.http.response" in scope.get("extensions", {}):
        await websocket.send_denial_response(response)
    else:
        await websocket.close(POLICY_VIOLATION)
