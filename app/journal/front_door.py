"""The command front door: one parser for ``POST /entities/{type}/{id}/{command}``.

A command request is parsed here and nowhere else, with its limits declared once below,
whichever way it came in: through the raw ASGI fast path (``CommandRoute``, served by
``app.api.fast_path``, the way the running app takes commands) or through the FastAPI
route that documents it (``app.journal.routes``, which also serves an app assembled without
the fast path). The OpenAPI document's header rules are built from the same constants.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.types import Receive, Scope

from app.api.problems import ProblemError
from app.journal.commands import CommandOutcome, CommandRequest
from app.journal.correlation import MAX_CORRELATION_ID, command_metadata
from app.keys.auth import check_scopes
from app.keys.scopes import COMMANDS_WRITE
from app.runtime import runtime_of
from app.sdk.entity import CommandSpec, EventSourcedEntity
from app.sdk.events import Command
from app.sdk.service import Service

# The limits, once.
ENTITY_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@~-]{0,199}$"
IDEMPOTENCY_KEY_PATTERN = r"^[\x21-\x7e]{1,255}$"  # 1-255 printable ASCII characters
IF_MATCH_PATTERN = r'^(?:\*|(?:W/)?"(\d{1,10})")$'
MAX_TRACEPARENT = 100
_ENTITY_ID = re.compile(ENTITY_ID_PATTERN)
_IDEMPOTENCY_KEY = re.compile(IDEMPOTENCY_KEY_PATTERN)
_IF_MATCH = re.compile(IF_MATCH_PATTERN)
HEADER_NAMES = ("content-type", "idempotency-key", "if-match", "x-correlation-id", "traceparent")
_HEADERS = frozenset(name.encode() for name in HEADER_NAMES)


@dataclass(frozen=True)
class ParsedCommand:
    request: CommandRequest
    correlation_id: str  # answered in X-Correlation-ID


def parse_command_request(
    entity: EventSourcedEntity[Any],
    spec: CommandSpec,
    entity_id: str,
    headers: Mapping[str, str],
    body: bytes,
) -> ParsedCommand:
    """The request as the runner takes it, or the refusal a client gets for it: 415 (not
    JSON), 400 (malformed JSON or If-Match), 422 (a body, id or header out of its rules)."""
    _require_json(headers.get("content-type"))
    if not _ENTITY_ID.fullmatch(entity_id):  # match() lets "id\n" by
        raise _invalid("path", "entity_id", "must match " + ENTITY_ID_PATTERN, entity_id)
    command = parse_command(spec, body)
    key = headers.get("idempotency-key")
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise _invalid("header", "Idempotency-Key", "1-255 printable ASCII characters", key)
    correlation_id = headers.get("x-correlation-id")
    if correlation_id is not None and len(correlation_id) > MAX_CORRELATION_ID:
        limit = f"at most {MAX_CORRELATION_ID} characters"
        raise _invalid("header", "X-Correlation-ID", limit, correlation_id)
    traceparent = headers.get("traceparent")
    if traceparent is not None and len(traceparent) > MAX_TRACEPARENT:
        limit = f"at most {MAX_TRACEPARENT} characters"
        raise _invalid("header", "traceparent", limit, traceparent)
    correlation, metadata = command_metadata(correlation_id, traceparent)
    if_match = headers.get("if-match")
    request = CommandRequest(
        entity_type=entity.name,
        entity_id=entity_id,
        command=spec.name,
        body=command,
        idempotency_key=key,
        expected_version=expected_version(if_match),
        must_exist=if_match is not None and if_match.strip() == "*",
        metadata=metadata,
    )
    return ParsedCommand(request, correlation)


def parse_command(spec: CommandSpec, body: bytes) -> Command:
    """A command's body, with JSON's types as documented: ``"95"`` or ``true`` is not an
    integer, whatever pydantic's lax mode would make of it. Strict JSON validation says so
    (and still takes strings for dates, UUIDs and enums), but it also refuses ``19.0`` for an
    integer, which JSON Schema counts as one: only then is the body read again, laxly."""
    try:
        command: Command = spec.model.model_validate_json(body, strict=True)
        return command
    except ValidationError as error:
        if not all(_integral_number(found) for found in error.errors()):
            raise _invalid_body(error) from None
    try:
        command = spec.model.model_validate_json(body)
    except ValidationError as error:
        raise _invalid_body(error) from None
    return command


def expected_version(if_match: str | None) -> int | None:
    """The version an ``If-Match`` asks for; ``*`` asks for none in particular, only that
    the entity exists (``must_exist``)."""
    if if_match is None or if_match.strip() == "*":
        return None
    found = _IF_MATCH.fullmatch(if_match.strip())
    if not found:
        raise ProblemError(
            400, "bad-if-match", "Malformed If-Match", 'If-Match takes a quoted version: "3"'
        )
    return int(found.group(1))


def reply_headers(outcome: CommandOutcome, correlation: str) -> dict[str, str]:
    headers = {"ETag": f'"{outcome.result.version}"', "X-Correlation-ID": correlation}
    if outcome.replayed:
        headers["Idempotent-Replayed"] = "true"
    return headers


def _require_json(content_type: str | None) -> None:
    """A command body is JSON; anything else is refused before it is parsed."""
    media_type = (content_type or "").split(";")[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise ProblemError(
            415,
            "unsupported-media-type",
            "Unsupported media type",
            "send the command as JSON with Content-Type: application/json",
        )


def _integral_number(error: Any) -> bool:
    value = error.get("input")
    return error["type"] == "int_type" and isinstance(value, float) and value.is_integer()


def _invalid_body(error: ValidationError) -> RequestValidationError:
    found = error.errors(include_url=False, include_context=False)
    return RequestValidationError(
        [
            {"type": e["type"], "loc": ("body", *e["loc"]), "msg": e["msg"]}
            for e in found
            if not _integral_number(e)
        ]
    )


def _invalid(location: str, name: str, message: str, value: str) -> RequestValidationError:
    return RequestValidationError(
        [{"loc": (location, name), "msg": message, "type": "value_error", "input": value}]
    )


Target = tuple[EventSourcedEntity[Any], CommandSpec, str]  # entity, command, entity id


class CommandRoute:
    """The command path as a fast route (``app.api.fast_path``): one dict lookup to match,
    the raw headers and body to the one parser above, the runner, and raw ASGI out.

    Measured on a 2-core box, FastAPI's generic route matching and body handling cost more
    CPU than deciding and appending the command itself."""

    def __init__(self, service: Service) -> None:
        self.commands: dict[tuple[str, str], tuple[EventSourcedEntity[Any], CommandSpec]] = {
            (entity.name, spec.name): (entity, spec)
            for entity in service.entity_types.values()
            for spec in entity.public_commands
        }

    def match(self, scope: Scope) -> Target | None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return None
        parts = scope["path"].split("/")
        if len(parts) != 5 or parts[0] != "" or parts[1] != "entities":
            return None
        found = self.commands.get((parts[2], parts[4]))
        return None if found is None else (*found, parts[3])

    async def answer(
        self, scope: Scope, receive: Receive, target: Target
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        check_scopes(scope, COMMANDS_WRITE)
        entity, spec, entity_id = target
        headers = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope["headers"]
            if name in _HEADERS
        }
        parsed = parse_command_request(entity, spec, entity_id, headers, await _body(receive))
        outcome = await runtime_of(scope).runner.run(parsed.request)
        body = outcome.result.model_dump_json().encode()
        raw_headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        raw_headers += [
            (name.lower().encode(), value.encode())
            for name, value in reply_headers(outcome, parsed.correlation_id).items()
        ]
        return 200, raw_headers, body

    def refused(self, scope: Scope, target: Target, error: Exception) -> None:
        """Count a declared command's request refused before it ran."""
        runtime_of(scope).metrics.command_refused(target[0].name, target[1].name, error)


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)
