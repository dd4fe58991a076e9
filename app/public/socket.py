"""``WS /ws/streams/{id}``: a public stream over a WebSocket, catch-up then live.

The same connection rules as ``/ws/events`` (one bounded queue per client, 4008 with the seq to
resume after for a client that cannot keep up, 1001/1011/1013 with it too, subscribe messages
to change the filter or the cursor), with one difference in what is sent: each page is read
through the stream's publishers, and the cursor moves past what they filter out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from app.public.reader import PublicStream
from app.stream.subscription import PAGE_SIZE, SLOW_CONSUMER, Closing, Subscription


@dataclass(eq=False)
class StreamSocket(Subscription):
    reader: PublicStream | None = field(default=None)

    async def _produce(self) -> Closing | None:
        assert self.reader is not None
        while True:
            self._apply_change()
            entries, next_after = await self.reader.entries(self.cursor, PAGE_SIZE)
            for entry in entries:
                if self._change is not None:
                    break
                if entry.matches(self.wanted) and not await self._enqueue(entry):
                    return Closing(SLOW_CONSUMER, self.resume_reason("slow-consumer"))
                self.cursor = entry.seq
            else:
                moved, self.cursor = next_after > self.cursor, max(self.cursor, next_after)
                if not entries and not moved:
                    await self._wait_for_more()
