"""Request body limits, enforced before any route sees the body.

A pure ASGI middleware: it reads at most ``max_body_bytes + 1`` bytes, answers 413 past that,
refuses JSON nested deeper than ``max_json_depth`` with 400, and otherwise hands the buffered
body on. Bodies here are small JSON documents, so buffering costs nothing and keeps a huge or
pathological upload from ever reaching pydantic (or a handler recursing over its data).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem_response
from app.api.text import json_holds_nul

_WITH_BODY = {"POST", "PUT", "PATCH"}


class BodyLimit:
    def __init__(self, app: ASGIApp, *, max_body_bytes: int, max_json_depth: int = 32) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WITH_BODY:
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = self._refusal(body)
        if refusal is not None:
            await _refuse(scope, receive, send, *refusal)
            return
        await self.app(scope, _replay(body, receive), send)

    def _refusal(self, body: bytes) -> tuple[int, str, str, str] | None:
        if json_depth_exceeds(body, self.max_json_depth):
            depth = self.max_json_depth
            detail = f"objects and arrays may be nested {depth} levels deep at most"
            return 400, "json-too-deep", "JSON nested too deeply", detail
        if json_holds_nul(body):
            detail = "text may not contain U+0000 (\\u0000): it cannot be stored"
            return 422, "nul-character", "NUL character", detail
        return None

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the body may hold at most {self.max_body_bytes} bytes"
        await _refuse(scope, receive, send, 413, "body-too-large", "Request body too large", detail)


async def _refuse(
    scope: Scope, receive: Receive, send: Send, status: int, slug: str, title: str, detail: str
) -> None:
    response = problem_response(None, status, slug, title, detail, instance=scope["path"])
    await response(scope, receive, send)


def json_depth_exceeds(body: bytes, limit: int) -> bool:
    """Whether ``body`` nests objects/arrays deeper than ``limit`` (brackets inside strings
    do not count). Counting brackets first settles nearly every body without the scan."""
    if body.count(b"{") + body.count(b"[") <= limit:
        return False
    depth, in_string, escaped = 0, False, False
    for byte in body:
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x7B, 0x5B):  # { [
            depth += 1
            if depth > limit:
                return True
        elif byte in (0x7D, 0x5D):  # } ]
            depth -= 1
    return False


def _content_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
