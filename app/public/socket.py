"""``WS /ws/streams/{id}``: a public stream over a WebSocket, catch-up then live.

The same connection rules as ``/ws/events`` (one bounded queue per client, 4008 with the seq to
resume after for a client that cannot keep up, 1001/1011/1013 with it too, subscribe messages
to change the filter or the cursor), with one difference in what is sent: each page is read
through the stream's publishers, and the cursor moves past what they filter out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.public.reader import PublicStream
from app.stream.entries import LogEntry
from app.stream.subscription import PAGE_SIZE, Subscription


@dataclass(eq=False)
class StreamSocket(Subscription):
    reader: PublicStream | None = field(default=None)

    async def _next_page(self) -> tuple[list[LogEntry], int | None]:
        assert self.reader is not None
        return await self.reader.entries(self.cursor, PAGE_SIZE)
