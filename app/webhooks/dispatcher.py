"""The webhook dispatcher: the consumer turning log events into deliveries.

Deliveries are created in the same transaction that moves the dispatcher's checkpoint, so
each event gets exactly one delivery per matching subscription, crash or not. A subscription
receives the events after the log's head at its creation (``after_seq``); older ones are a
replay away. Disabled subscriptions get nothing while disabled.
"""

from __future__ import annotations

from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.relay.checkpoints import Checkpoints
from app.relay.consumer import PositionMoved
from app.relay.log import Row
from app.webhooks.deliveries import Deliveries
from app.webhooks.matching import TypeFilter

DISPATCHER = "webhook-dispatcher"
ENABLED = "SELECT id, event_types, after_seq FROM webhooks WHERE enabled"


class WebhookDispatcher:
    name = DISPATCHER
    kind = "webhooks"
    log_types = None  # every event: subscriptions filter by type themselves
    reads_data = False  # a delivery names its event; the body is read when it is sent
    start_from = "beginning"

    def __init__(self, pool: AsyncConnectionPool, checkpoints: Checkpoints) -> None:
        self.pool = pool
        self.checkpoints = checkpoints

    def reset(self) -> None:
        """Nothing held in memory: subscriptions are read with each batch."""

    async def process(self, after: int, upto: int, rows: list[Row]) -> None:
        async with self.pool.connection() as conn, conn.transaction():
            claim = await self.checkpoints.claim(conn, self.name)
            if claim.position != after:
                raise PositionMoved(f"{self.name} is at {claim.position}, not {after}")
            # Read under the checkpoint row's lock, which a subscription being created holds
            # shared while it reads the head (Subscriptions.create): it is either committed,
            # and seen here, or takes the head after this batch commits and is owed nothing
            # of it. Read before the lock, a subscription committing meanwhile would miss the
            # batch's events after the head it read.
            subscriptions = await _enabled(conn) if rows else []
            deliveries = [d for row in rows for d in _deliveries(row, subscriptions)]
            if deliveries:
                await Deliveries.create_on(conn, deliveries)
            await self.checkpoints.advance(conn, self.name, upto)


async def _enabled(conn: Any) -> list[tuple[Any, TypeFilter, int]]:
    found = await (await conn.execute(ENABLED)).fetchall()
    return [(webhook, TypeFilter.of(types), after_seq) for webhook, types, after_seq in found]


def _deliveries(row: Row, subscriptions: list[tuple[Any, TypeFilter, int]]) -> list[dict[str, Any]]:
    seq, event_id, entity_type, entity_id, _, type_name = row[:6]
    event_type = f"{entity_type}.{type_name}"
    return [
        {
            "webhook_id": str(webhook_id),
            "seq": seq,
            "event_id": str(event_id),
            "event_type": event_type,
            "entity_type": entity_type,
            "entity_id": entity_id,
        }
        for webhook_id, types, after_seq in subscriptions
        if seq > after_seq and types.matches(event_type)
    ]
