"""One WebSocket subscriber: catch-up then live, exactly once, in seq order, bounded memory.

Three tasks share a connection:
  * the producer pulls entries after ``cursor`` (hub memory, else the journal, in pages) and
    puts the matching ones on a bounded queue;
  * the sender takes them off the queue and writes them to the socket;
  * the receiver reads client messages (change the filter, resume from a seq).
A client that leaves the queue full for ``slow_after`` seconds cannot keep up: it is closed
with 4008 and told the seq to resume after (the last one actually sent), never dropped
silently; memory per client is the queue's bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketState

from app.background.tasks import first_of
from app.db.outages import OUTAGE_ERRORS
from app.relay.log import LogFilter
from app.stream.entries import LogEntry
from app.stream.hub import LogHub
from app.stream.settings import StreamSettings

log = logging.getLogger("sluice.stream")

GOING_AWAY = 1001  # the server shuts down: the reason holds where to resume elsewhere
UNSUPPORTED_DATA = 1003  # a binary frame: the protocol is JSON text
INTERNAL_ERROR = 1011
TRY_AGAIN_LATER = 1013  # the database is unreachable: resume from the reason's seq shortly
SLOW_CONSUMER = 4008
BAD_MESSAGE = 4400
PAGE_SIZE = 500  # events read from the journal at a time while catching up
KEY_REVOKED = 4401  # the key was revoked (or lost the scope) while the socket was open


class SubscribeMessage(BaseModel):
    """A client message: change the filter, and optionally move the cursor."""

    model_config = ConfigDict(extra="forbid")

    action: str = Field(pattern="^subscribe$")
    after: int | None = Field(default=None, ge=0)
    types: list[str] = Field(default_factory=list, max_length=100)
    entity_type: str | None = None
    entity_id: str | None = None

    def log_filter(self) -> LogFilter:
        return LogFilter(frozenset(self.types), self.entity_type, self.entity_id)


@dataclass
class Closing:
    code: int
    reason: str


@dataclass(eq=False)  # identity: each connection is its own subscription
class Subscription:
    websocket: WebSocket
    hub: LogHub
    cursor: int
    wanted: LogFilter
    settings: StreamSettings
    poll_interval: float
    last_sent: int = 0
    last_taken: int = 0
    deepest_queue: int = 0
    _queue: asyncio.Queue[LogEntry] = field(init=False)
    _change: SubscribeMessage | None = field(default=None, init=False)
    _wake: asyncio.Event = field(default_factory=asyncio.Event, init=False)
    key_id: uuid.UUID | None = None  # the API key that opened it, re-checked when keys change
    scope: str = "events:read"  # what that key must still hold for the socket to stay open
    _ended: asyncio.Future[int] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._queue = asyncio.Queue(maxsize=self.settings.queue_size)
        self.last_sent = self.last_taken = self.cursor

    async def run(self) -> Closing | None:
        """Serve until the client leaves or must be closed; returns why it was closed."""
        tasks: list[asyncio.Task[Closing | None]] = [
            asyncio.create_task(self._produce()),
            asyncio.create_task(self._send()),
            asyncio.create_task(self._receive()),
            asyncio.create_task(self._until_ended()),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            # Wait for all of them; what each ended with is judged below, not raised here.
            await asyncio.gather(*tasks, return_exceptions=True)
        closing = next((found for task in done if (found := self._outcome(task))), None)
        if closing is not None and closing.code in RESUMABLE:  # now that nothing else is sent
            closing = Closing(closing.code, self.resume_reason(RESUMABLE[closing.code]))
        if closing is not None:
            if closing.code == SLOW_CONSUMER:
                self.hub.slow_closed += 1
            await self.close(closing)
        return closing

    async def close(self, closing: Closing, grace: float = 10.0) -> None:
        """Send the close frame; a client that never reads is left to the ping timeout."""
        if self.websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):  # the client may already be gone
                async with asyncio.timeout(grace):
                    await self.websocket.close(closing.code, closing.reason)

    def go_away(self) -> None:
        """Close with 1001 and the resume seq: the server is shutting down."""
        self.end(GOING_AWAY)

    def end(self, code: int) -> None:
        """Close with ``code`` (one of ``RESUMABLE``) and the resume seq, from outside."""
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        if not self._ended.done():
            self._ended.set_result(code)

    async def _until_ended(self) -> Closing:
        if self._ended is None:
            self._ended = asyncio.get_running_loop().create_future()
        return Closing(await self._ended, "")

    def resume_reason(self, why: str) -> str:
        return json.dumps({"error": why, "resume_after": self.last_sent}, separators=(",", ":"))

    # -- producer -----------------------------------------------------------------------------
    async def _produce(self) -> Closing | None:
        while True:
            self._apply_change()
            entries, examined = await self._next_page()
            for entry in entries:
                if self._change is not None:
                    break
                if entry.matches(self.wanted) and not await self._enqueue(entry):
                    return Closing(SLOW_CONSUMER, self.resume_reason("slow-consumer"))
                self.cursor = entry.seq
            else:
                moved = examined is not None and examined > self.cursor
                if moved:
                    self.cursor = examined  # type: ignore[assignment]
                if not entries and not moved:
                    await self._wait_for_more()

    async def _next_page(self) -> tuple[list[LogEntry], int | None]:
        """The next entries after the cursor, and the last seq examined for them when that
        may lie past the last entry (a reader that leaves events out); None: the last entry."""
        entries = self.hub.read_after(self.cursor, PAGE_SIZE)
        if entries is None:
            entries = await self.hub.read_journal(self.cursor, PAGE_SIZE)
        return entries, None

    async def _wait_for_more(self) -> None:
        self._wake.clear()
        await first_of(self.hub.wait_beyond(self.cursor, self.poll_interval), self._wake.wait())

    async def _enqueue(self, entry: LogEntry) -> bool:
        try:
            self._queue.put_nowait(entry)
        except asyncio.QueueFull:
            try:
                async with asyncio.timeout(self.settings.slow_after_seconds):
                    await self._queue.put(entry)
            except TimeoutError:
                return False
        depth = self._queue.qsize()
        if depth > self.deepest_queue:
            self.deepest_queue = depth
            self.hub.deepest_queue = max(self.hub.deepest_queue, depth)
        return True

    def _apply_change(self) -> None:
        change, self._change = self._change, None
        if change is None:
            return
        while not self._queue.empty():  # unsent entries were chosen under the old filter
            self._queue.get_nowait()
        self.cursor = change.after if change.after is not None else self.last_taken
        self.last_taken = self.last_sent = self.cursor
        self.wanted = change.log_filter()

    # -- sender and receiver --------------------------------------------------------------------
    async def _send(self) -> Closing | None:
        while True:
            entry = await self._queue.get()
            self.last_taken = entry.seq
            await self.websocket.send_text(entry.json)
            self.last_sent = entry.seq

    async def _receive(self) -> Closing | None:
        while True:
            frame = await self.websocket.receive()
            if frame["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(frame.get("code", 1000), frame.get("reason"))
            message = frame.get("text")
            if message is None:
                return Closing(UNSUPPORTED_DATA, "send text frames: JSON subscribe messages")
            try:
                change = SubscribeMessage.model_validate_json(message)
            except ValidationError as error:
                first = error.errors()[0]
                where = ".".join(str(part) for part in first.get("loc", ()))
                reason = _short(f"bad message: {where + ': ' if where else ''}{first['msg']}")
                return Closing(BAD_MESSAGE, reason)
            self._change = change
            self._wake.set()

    def _outcome(self, task: asyncio.Task[Closing | None]) -> Closing | None:
        """A task's reason to close; a client that left (or a cancelled task) has none. A
        failure still closes the socket properly, with the seq to resume after: an outage
        says "try again later", anything else is our error, logged."""
        if task.cancelled():
            return None
        error = task.exception()
        if error is None:
            return task.result()
        if isinstance(error, WebSocketDisconnect):
            return None
        if isinstance(error, OUTAGE_ERRORS):
            log.warning("WebSocket closed 1013: database unavailable (%s)", error)
            return Closing(TRY_AGAIN_LATER, "")
        log.error("WebSocket closed 1011 after an error", exc_info=error)
        return Closing(INTERNAL_ERROR, "")


# Close codes whose reason tells the client where to resume: {code: the reason's "error"}.
RESUMABLE = {
    GOING_AWAY: "going-away",
    KEY_REVOKED: "key-revoked",
    TRY_AGAIN_LATER: "database-unavailable",
    INTERNAL_ERROR: "internal-error",
}


def _short(reason: str) -> str:
    """Close reasons are limited to 123 bytes."""
    return reason.encode()[:120].decode(errors="ignore")
