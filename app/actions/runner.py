"""An action as a consumer: each event in seq order becomes the commands its handler returns.

Commands go through the same CommandRunner as HTTP, each with a key derived from the action
and the source event (``{action}:{event_id}``, ``#n`` for the n-th), so an event handled twice
— after a crash between sending and checkpointing, or a rewound checkpoint — replays the
stored reply instead of acting twice. A command its entity rejects is a business outcome:
it is recorded in ``action_rejections`` and the action moves on.
"""

from __future__ import annotations

import copy
import json
import logging
import uuid
from typing import Any

from psycopg_pool import AsyncConnectionPool

from app.db.outages import OUTAGE_ERRORS
from app.journal.commands import CommandRequest, CommandRunner
from app.journal.correlation import carried
from app.journal.errors import CommandRejected
from app.relay.checkpoints import Checkpoints
from app.relay.consumer import HandlerFailed, PositionMoved
from app.relay.log import EventLog, LoggedEvent, Row
from app.sdk.action import Action, ActionEffect
from app.sdk.service import Service
from app.sdk.timers import CancelTimer, Send, Timer
from app.timers.rows import timer_row
from app.timers.store import TimerStore

log = logging.getLogger("sluice.actions")

IDEMPOTENCY_SCOPE = "action"

RECORD_REJECTION = """
INSERT INTO action_rejections
    (action, idempotency_key, seq, event_id, entity_type, entity_id, command, reason, detail)
VALUES (%(action)s, %(key)s, %(seq)s, %(event_id)s, %(entity_type)s, %(entity_id)s,
        %(command)s, %(reason)s, %(detail)s)
ON CONFLICT (idempotency_key) DO NOTHING
"""


def command_key(action: str, event_id: uuid.UUID, index: int) -> str:
    return f"{action}:{event_id}" + (f"#{index}" if index else "")


class ActionConsumer:
    kind = "action"
    reads_log = True

    def __init__(
        self,
        action: Action,
        service: Service,
        *,
        pool: AsyncConnectionPool,
        runner: CommandRunner,
        checkpoints: Checkpoints,
        event_log: EventLog,
        timers: TimerStore,
    ) -> None:
        self.action = action
        self.name = action.name
        # Commands it sends are keyed by the source event: {action}:{event_id} for this
        # service's events, {action}:{service}:{event_id} for another service's.
        source = action.source
        self.key_prefix = action.name if source is None else f"{action.name}:{source.service}"
        self.log_types = service.log_types(action.handlers)
        self.start_from = action.start_from
        self.pool = pool
        self.runner = runner
        self.checkpoints = checkpoints
        self.event_log = event_log
        self.timers = timers

    def reset(self) -> None:
        """Nothing in memory: an action's effects live in the journal."""

    def for_partition(self, name: str, event_log: Any) -> ActionConsumer:
        """This action for one partition of a Kafka topic: its own checkpoint (``name``);
        its commands keep the keys they would have over HTTP (one event, one command)."""
        consumer = copy.copy(self)
        consumer.name, consumer.event_log = name, event_log
        return consumer

    async def process(self, after: int, upto: int, rows: list[Row]) -> None:
        for row in rows:
            try:
                await self._handle(self.event_log.decode(row))
            except OUTAGE_ERRORS:
                raise  # not this event's fault: the runner backs off and retries the batch
            except Exception as error:
                await self._advance(after, row[0] - 1)
                raise HandlerFailed(row[0], error) from error
        await self._advance(after, upto)

    async def _advance(self, after: int, position: int) -> None:
        if not await self.checkpoints.advance_from(self.name, after, position):
            raise PositionMoved(f"{self.name} was moved while it handled ({after}, {position}]")

    async def _handle(self, logged: LoggedEvent) -> None:
        effects: list[ActionEffect] = self.action.effects(logged.event, logged.meta)
        for index, effect in enumerate(effects):
            key = command_key(self.key_prefix, logged.meta.event_id, index)
            if isinstance(effect, Send):
                await self._send(effect, key, logged)
            elif isinstance(effect, Timer):
                await self._schedule(effect, key, logged)
            elif isinstance(effect, CancelTimer):
                await self.timers.cancel(self._owner, effect.key)

    @property
    def _owner(self) -> str:
        return f"action:{self.action.name}"

    def _metadata(self, logged: LoggedEvent) -> dict[str, Any]:
        return {
            **carried(logged.meta.metadata),
            "causation_id": str(logged.meta.event_id),
            "actor": self._owner,
        }

    async def _send(self, send: Send, key: str, logged: LoggedEvent) -> None:
        request = CommandRequest(
            entity_type=send.entity_type,
            entity_id=send.entity_id,
            command=send.command,
            body=send.body,
            idempotency_key=key,
            idempotency_scope=IDEMPOTENCY_SCOPE,
            metadata=self._metadata(logged),
        )
        try:
            await self.runner.run(request)
        except CommandRejected as rejection:
            log.info(
                "%s: %s/%s %s rejected: %s",
                self.name,
                send.entity_type,
                send.entity_id,
                send.command,
                rejection.reason,
            )
            await self._record_rejection(send, key, logged, rejection)

    async def _record_rejection(
        self, send: Send, key: str, logged: LoggedEvent, rejection: CommandRejected
    ) -> None:
        params = {
            "action": self.action.name,
            "key": key,
            "seq": logged.meta.seq,
            "event_id": logged.meta.event_id,
            "entity_type": send.entity_type,
            "entity_id": send.entity_id,
            "command": send.command,
            "reason": rejection.reason,
            "detail": json.dumps(rejection.detail, default=str),
        }
        async with self.pool.connection() as conn:
            await conn.execute(RECORD_REJECTION, params)

    async def _schedule(self, timer: Timer, key: str, logged: LoggedEvent) -> None:
        """The timer's id comes from the source event, so re-handling the event re-schedules
        the same timer, and a second firing is answered from the idempotency record."""
        assert timer.entity_type is not None and timer.entity_id is not None
        self.runner.entity(timer.entity_type)  # raises for an unknown entity type: a bug
        row = timer_row(
            self._owner, timer, timer.entity_type, timer.entity_id, self._metadata(logged)
        )
        row["timer_id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, f"sluice:{key}"))
        await self.timers.schedule(row)
