"""The webhook dispatcher: the consumer turning log events into deliveries.

Deliveries are created in the same transaction that moves the dispatcher's checkpoint, so
each event gets exactly one delivery per matching subscription, crash or not. A subscription
receives the events after the log's head at its creation (``after_seq``); older ones are a
replay away. Disabled subscriptions get nothing while disabled.

A batch is one round trip (``Checkpoints.commit_at``): the checkpoint row locked, then one
statement reading the batch's events and the enabled subscriptions and queuing the matches,
then the advance. That statement reads the subscriptions after the row's lock is held, and a
subscription being created holds the row too, shared, while it reads the head
(``Subscriptions.create``): so it is either committed, and seen, or reads the head after the
batch has committed, and is owed none of its events. (Looked at before the lock, a
subscription committing meanwhile would miss the batch's events after the head it read.)
"""

from __future__ import annotations

from psycopg import sql

from app.relay.checkpoints import STILL_AT, Checkpoints
from app.relay.consumer import PositionMoved
from app.relay.log import Row
from app.webhooks.deliveries import DELIVERY_CHANNEL
from app.webhooks.matching import sql_wants

DISPATCHER = "webhook-dispatcher"

# Deliveries go in seq order, the order a replay queues them in (deliveries.py, REPLAY), so
# the two never deadlock.
DISPATCH = sql.SQL(
    """
WITH batch AS (
    SELECT seq, event_id, entity_type || '.' || type AS event_type, entity_type, entity_id
    FROM events
    WHERE seq > %(expected)s AND seq <= %(position)s
      AND NOT EXISTS (
          SELECT 1 FROM parked_events p WHERE p.consumer = %(name)s AND p.seq = events.seq)
), queued AS (
    INSERT INTO webhook_deliveries
        (webhook_id, seq, event_id, event_type, entity_type, entity_id)
    SELECT w.id, e.seq, e.event_id, e.event_type, e.entity_type, e.entity_id
    FROM batch e JOIN webhooks w ON w.enabled AND e.seq > w.after_seq
    WHERE {wants} AND {still_at}
    ORDER BY e.seq, w.id
    ON CONFLICT (webhook_id, seq) WHERE seq IS NOT NULL DO NOTHING
    RETURNING 1
)
SELECT pg_notify({channel}, '') WHERE EXISTS (SELECT 1 FROM queued)"""
).format(
    wants=sql.SQL(sql_wants("w.event_types", "e.event_type")),
    still_at=STILL_AT,
    channel=sql.Literal(DELIVERY_CHANNEL),
)


class WebhookDispatcher:
    name = DISPATCHER
    kind = "webhooks"
    log_types = None  # every event: subscriptions filter by type themselves
    reads_log = False  # its statement reads the batch's events itself (no round trip)
    start_from = "beginning"

    def __init__(self, checkpoints: Checkpoints) -> None:
        self.checkpoints = checkpoints

    def reset(self) -> None:
        """Nothing held in memory: subscriptions are read with each batch."""

    async def process(self, after: int, upto: int, rows: list[Row]) -> None:
        if not await self.checkpoints.commit_at(self.name, after, None, upto, [(DISPATCH, {})]):
            raise PositionMoved(f"{self.name} moved from {after}")
