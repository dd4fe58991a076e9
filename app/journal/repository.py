"""The journal: load an entity (snapshot + later events) and append its new events.

All SQL lives in ``app/journal/sql.py``; this module turns rows into models and errors into
the journal's own exceptions. It never commits on anyone's behalf: every method is one
autocommitted statement, which is what makes an append atomic and one round trip.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

import psycopg
from psycopg import AsyncConnection
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool
from pydantic import BaseModel
from pydantic_core import to_json

from app.db.group_commit import GroupCommit
from app.journal import sql
from app.journal.errors import IdempotencyKeyTaken, VersionConflict
from app.sdk.entity import EventSourcedEntity
from app.sdk.events import Event

S = TypeVar("S", bound=BaseModel)

# How long after last hearing another process append here this one keeps sending its events.
OTHERS_SECONDS = 60.0


@dataclass(frozen=True)
class LoadedEntity(Generic[S]):
    state: S
    version: int
    events_read: int
    snapshot_version: int | None


@dataclass(frozen=True)
class IdempotencyRecord:
    scope: str
    key: str
    request_hash: str
    reply: dict[str, Any]

    def row(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "key": self.key,
            "request_hash": self.request_hash,
            "reply": self.reply,
        }


@dataclass(frozen=True)
class StoredCommand:
    request_hash: str
    reply: dict[str, Any]
    live: bool


@dataclass(frozen=True)
class StoredEvent:
    event_id: uuid.UUID
    version: int
    type: str
    schema_version: int
    data: dict[str, Any]
    metadata: dict[str, Any]
    recorded_at: datetime
    seq: int | None


@dataclass(frozen=True)
class EntitySnapshot:
    version: int
    state: BaseModel


@dataclass(frozen=True)
class PendingAppend:
    """One command's writes: events at versions first_version, first_version + 1, …"""

    entity_type: str
    entity_id: str
    first_version: int
    events: Sequence[tuple[uuid.UUID, Event]]
    metadata: dict[str, Any]
    idempotency: IdempotencyRecord | None = None
    snapshot: EntitySnapshot | None = None
    state_schema: str = ""
    timers: Sequence[dict[str, Any]] = ()
    cancelled_timers: Sequence[dict[str, Any]] = ()

    def event_rows(self) -> list[dict[str, Any]]:
        return [
            {
                "event_id": str(event_id),
                "entity_type": self.entity_type,
                "entity_id": self.entity_id,
                "version": self.first_version + offset,
                "type": event.event_type,
                "schema_version": event.schema_version,
                "data": event.model_dump(mode="json"),
                "metadata": self.metadata,
            }
            for offset, (event_id, event) in enumerate(self.events)
        ]

    def snapshot_row(self) -> dict[str, Any]:
        assert self.snapshot is not None
        return {
            "entity_type": self.entity_type,
            "entity_id": self.entity_id,
            "version": self.snapshot.version,
            "state_schema": self.state_schema,
            "state": self.snapshot.state.model_dump(mode="json"),
        }


class Journal:
    """Each method runs on a pooled connection, or on ``conn`` when one is given (a turn)."""

    def __init__(
        self,
        pool: AsyncConnectionPool,
        *,
        max_batch: int = 200,
        max_in_flight: int = 4,
        on_appended: Callable[[], None] | None = None,
        on_batch: Callable[[int], None] | None = None,
        origin: str = "",
    ) -> None:
        self.pool = pool
        # Names this process in each append's notification (app/journal/cache.py).
        self.origin = origin or uuid.uuid4().hex[:12]
        # The entities' names ride along only while the notification queue is under this
        # share full (see sql._WRITTEN); 0 sends the origin alone.
        self.names_in_notify_below = 0.01
        # The events ride along too while another process appends to this database (heard
        # within OTHERS_SECONDS): alone, this process would build them for nobody.
        self._others_until = 0.0
        self.batcher = GroupCommit(
            self._write,
            max_batch=max_batch,
            max_in_flight=max_in_flight,
            on_batch=on_batch,
            culprits=self._versions_taken,
        )
        self.on_appended = on_appended  # e.g. wake this process's sequencer at once

    @asynccontextmanager
    async def _connection(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
            return
        async with self.pool.connection() as pooled:
            yield pooled

    @asynccontextmanager
    async def entity_turn(self, entity_type: str, entity_id: str) -> AsyncIterator[AsyncConnection]:
        """A connection holding the entity's exclusive lock: no other append lands meanwhile."""
        params = _lock_params(entity_type, entity_id)
        async with self.pool.connection() as conn:
            await conn.execute(sql.TAKE_ENTITY_TURN, params)
            try:
                yield conn
            finally:
                await conn.execute(sql.END_ENTITY_TURN, params)

    async def load(
        self, entity: EventSourcedEntity[S], entity_id: str, conn: AsyncConnection | None = None
    ) -> LoadedEntity[S]:
        params = {
            "entity_type": entity.name,
            "entity_id": entity_id,
            "state_schema": entity.state_schema,
        }
        query = sql.LOAD_LATEST if entity.state_in_every_event else sql.LOAD_ENTITY
        async with self._connection(conn) as conn:
            rows = await (await conn.execute(query, params)).fetchall()
        rows.sort(key=lambda row: (row[0], row[1]))
        state, version, snapshot_version, events_read = entity.initial_state(), 0, None, 0
        for part, row_version, type_name, schema_version, data in rows:
            if part == 0:
                state = entity.state_type.model_validate(data)
                version = snapshot_version = row_version
                continue
            event = entity.event_from_stored(type_name, schema_version, data)
            state = entity.apply(state, event)
            version, events_read = row_version, events_read + 1
        if entity.state_in_every_event and version:
            state = entity.restored(state, version)
        return LoadedEntity(state, version, events_read, snapshot_version)

    def heard_another_process(self) -> None:
        """Another process appended here: send it our events, so its cache can follow them."""
        self._others_until = time.monotonic() + OTHERS_SECONDS

    async def current_version(self, entity_type: str, entity_id: str) -> int:
        params = {"entity_type": entity_type, "entity_id": entity_id}
        async with self.pool.connection() as conn:
            row = await (await conn.execute(sql.CURRENT_VERSION, params)).fetchone()
        return int(row[0]) if row else 0

    async def append(self, pending: PendingAppend, conn: AsyncConnection | None = None) -> None:
        """Write one command's events, outbox rows, idempotency record and snapshot, atomically.

        Without ``conn`` the append joins a group commit with whatever else is being appended.
        Raises VersionConflict when another writer took one of these versions first, and
        IdempotencyKeyTaken when another request stored a reply under the same key first.
        """
        try:
            if conn is None:
                await self.batcher.append(pending)
            else:
                await self._write([pending], conn)
        except psycopg.errors.UniqueViolation as error:
            constraint = error.diag.constraint_name
            if constraint == sql.ENTITY_VERSION_CONSTRAINT:
                raise VersionConflict(str(error)) from error
            if constraint == sql.COMMAND_LOG_CONSTRAINT:
                raise IdempotencyKeyTaken(str(error)) from error
            raise

    async def _versions_taken(
        self, batch: Sequence[PendingAppend], error: Exception
    ) -> dict[int, Exception]:
        """The items of a batch that lost a version race, found with one read: another
        process (with a cache of its own) appended to their entities first."""
        if not (
            isinstance(error, psycopg.errors.UniqueViolation)
            and error.diag.constraint_name == sql.ENTITY_VERSION_CONSTRAINT
        ):
            return {}
        params = {
            "entity_types": [pending.entity_type for pending in batch],
            "entity_ids": [pending.entity_id for pending in batch],
        }
        async with self.pool.connection() as conn:
            rows = await (await conn.execute(sql.CURRENT_VERSIONS, params)).fetchall()
        current = {(entity_type, entity_id): version for entity_type, entity_id, version in rows}
        return {
            index: VersionConflict(
                f"{pending.entity_type}/{pending.entity_id} is at version"
                f" {current[pending.entity_type, pending.entity_id]} already"
            )
            for index, pending in enumerate(batch)
            if current.get((pending.entity_type, pending.entity_id), 0) >= pending.first_version
        }

    async def _write(
        self, batch: Sequence[PendingAppend], conn: AsyncConnection | None = None
    ) -> None:
        commands = [p.idempotency.row() for p in batch if p.idempotency]
        snapshots = [p.snapshot_row() for p in batch if p.snapshot]
        timers = [timer for p in batch for timer in p.timers]
        cancels = [cancel for p in batch for cancel in p.cancelled_timers]
        params = {
            "lock_namespace": sql.ENTITY_LOCK_NAMESPACE,
            "origin": self.origin,
            "names_below": self.names_in_notify_below,
            "with_events": time.monotonic() < self._others_until,
            "events": _json([row for pending in batch for row in pending.event_rows()]),
            "commands": _json(commands),
            "snapshots": _json(snapshots),
            "timers": _json(timers),
            "cancels": _json(cancels),
        }
        statement = sql.append_batch(
            commands=bool(commands),
            snapshots=bool(snapshots),
            timers=bool(timers),
            cancels=bool(cancels),
        )
        async with self._connection(conn) as conn:
            await conn.execute(statement, params)
        if self.on_appended is not None:
            self.on_appended()

    async def find_command(self, scope: str, key: str, ttl: float) -> StoredCommand | None:
        params = {"scope": scope, "key": key, "ttl": ttl}
        async with self.pool.connection() as conn:
            row = await (await conn.execute(sql.FIND_COMMAND, params)).fetchone()
        return StoredCommand(*row) if row else None

    async def forget_expired_command(self, scope: str, key: str, ttl: float) -> None:
        params = {"scope": scope, "key": key, "ttl": ttl}
        async with self.pool.connection() as conn:
            await conn.execute(sql.FORGET_EXPIRED_COMMAND, params)

    async def purge_expired_commands(self, ttl: float) -> int:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(sql.PURGE_EXPIRED_COMMANDS, {"ttl": ttl})
            return cursor.rowcount

    async def entity_events(
        self, entity_type: str, entity_id: str, *, after: int = 0, limit: int = 1000
    ) -> list[StoredEvent]:
        params = {"entity_type": entity_type, "entity_id": entity_id, "after": after}
        params["limit"] = limit
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cursor:
            await cursor.execute(sql.ENTITY_EVENTS, params)
            return [StoredEvent(**row) for row in await cursor.fetchall()]


def _json(rows: list[dict[str, Any]]) -> str:
    """pydantic-core's encoder (~4x the stdlib's, on every append). What it cannot encode (a
    lone surrogate) goes through the stdlib's, as before: PostgreSQL then refuses that one
    command's text (a DataError), so a group commit finds it and lands the rest."""
    try:
        return to_json(rows).decode()
    except ValueError:
        return json.dumps(rows, separators=(",", ":"))


def _lock_params(entity_type: str, entity_id: str) -> dict[str, Any]:
    return {
        "lock_namespace": sql.ENTITY_LOCK_NAMESPACE,
        "entity_type": entity_type,
        "entity_id": entity_id,
    }
