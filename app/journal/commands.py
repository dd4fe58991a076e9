"""Run a command: load, decide, append — the one path for HTTP, actions and timers alike.

Why each step is safe:
  * commands for one entity take turns in this process (KeyedLocks), so they never race;
  * a race with another process is caught by the journal's unique version and re-decided on
    fresh state (bounded by ``command_retries``), or answered 409 when the client gave If-Match;
  * an Idempotency-Key is looked up *before* deciding, because a replay must return the stored
    reply even when the entity would now decide differently; two requests racing with one key
    collide on command_log's primary key and the loser answers with the winner's reply;
  * a request with a key that lost a race, or whose decision is a rejection, looks its key up
    again first: the twin it raced (a client's retry on another process) may have committed
    in between, and the rejection would be of the state that twin made.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from psycopg import AsyncConnection
from pydantic import BaseModel

from app.journal.cache import EntityCache, follow_written_elsewhere
from app.journal.correlation import carried
from app.journal.errors import (
    CommandRejected,
    ContentionExhausted,
    IdempotencyKeyReused,
    IdempotencyKeyTaken,
    UnknownCommand,
    UnknownEntityType,
    VersionConflict,
    VersionMismatch,
    outcome_of,
)
from app.journal.ids import random_uuid
from app.journal.locks import KeyedLocks
from app.journal.repository import (
    EntitySnapshot,
    IdempotencyRecord,
    Journal,
    LoadedEntity,
    PendingAppend,
)
from app.journal.results import AppendedEvent, CommandResult
from app.journal.settings import CommandSettings
from app.sdk.entity import Decision, EventSourcedEntity
from app.sdk.events import Command, Rejection
from app.sdk.service import Service
from app.sdk.timers import CancelTimer, Timer
from app.timers.rows import timer_row


@dataclass(frozen=True)
class CommandRequest:
    entity_type: str
    entity_id: str
    command: str
    body: Command
    idempotency_key: str | None = None
    idempotency_scope: str = ""
    expected_version: int | None = None
    must_exist: bool = False  # If-Match: * (RFC 9110: any current representation)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class CommandOutcome:
    result: CommandResult
    replayed: bool = False


# Told of every command run: entity type, command, outcome ("accepted", "replayed", or a failure's
# name from app.journal.errors) and the seconds it took, lock wait included.
CommandObserver = Callable[[str, str, str, float], None]


def _precondition_holds(request: CommandRequest, version: int) -> bool:
    """If-Match: the version it names, or (``*``) any version at all."""
    if request.expected_version is not None:
        return version == request.expected_version
    return version > 0 or not request.must_exist


def request_hash(request: CommandRequest) -> str:
    """What makes two requests 'the same' for an Idempotency-Key: target, command and body."""
    canonical = json.dumps(
        [
            request.entity_type,
            request.entity_id,
            request.command,
            request.body.model_dump(mode="json"),
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


class CommandRunner:
    def __init__(
        self,
        service: Service,
        journal: Journal,
        settings: CommandSettings,
        *,
        observer: CommandObserver | None = None,
    ) -> None:
        self.service = service
        self.journal = journal
        self.settings = settings
        self.observer = observer
        self.cache = EntityCache(settings.cache_size)
        self.locks = KeyedLocks()

    def entity(self, entity_type: str) -> EventSourcedEntity[Any]:
        entity = self.service.entity_types.get(entity_type)
        if entity is None:
            raise UnknownEntityType(entity_type)
        return entity

    async def run(self, request: CommandRequest) -> CommandOutcome:
        """Run one command. Observed only once its names are known to be declared ones, so a
        metric's labels stay a fixed, small set whatever a caller sends."""
        entity = self.entity(request.entity_type)
        if request.command not in entity.commands:
            raise UnknownCommand(request.entity_type, request.command)
        observer = self.observer
        if observer is None:
            return await self._run(entity, request)
        started = time.perf_counter()
        try:
            outcome = await self._run(entity, request)
        except Exception as error:
            elapsed = time.perf_counter() - started
            observer(request.entity_type, request.command, outcome_of(error), elapsed)
            raise
        elapsed = time.perf_counter() - started
        ended = "replayed" if outcome.replayed else "accepted"
        observer(request.entity_type, request.command, ended, elapsed)
        return outcome

    async def _run(
        self, entity: EventSourcedEntity[Any], request: CommandRequest
    ) -> CommandOutcome:
        async with self.locks.hold((request.entity_type, request.entity_id)):
            digest = request_hash(request) if request.idempotency_key else ""
            replayed = await self._replayed(request, digest)
            return replayed or await self._decide_and_append(entity, request, digest)

    def follower(self) -> Callable[[str], None]:
        """The reader of append notifications that keeps this cache up with other processes."""
        entities, journal = self.service.entity_types, self.journal
        return follow_written_elsewhere(
            self.cache, journal.origin, entities, journal.heard_another_process
        )

    async def load(self, entity: EventSourcedEntity[Any], entity_id: str) -> LoadedEntity[Any]:
        """Fresh from the journal, refreshing the cache on the way."""
        loaded = await self.journal.load(entity, entity_id)
        self.cache.put((entity.name, entity_id), loaded.state, loaded.version)
        return loaded

    async def _decide_and_append(
        self, entity: EventSourcedEntity[Any], request: CommandRequest, digest: str
    ) -> CommandOutcome:
        """Try on cached state, then once more on fresh state (a stale cache is the usual
        loser); only sustained contention gets an exclusive turn, which nobody can beat."""
        outcome = await self._attempt(entity, request, digest, conn=None)
        if outcome is None and self.settings.retries > 0:
            self.cache.forget((request.entity_type, request.entity_id))
            outcome = await self._replayed(request, digest) or await self._attempt(
                entity, request, digest, conn=None
            )
        for _ in range(self.settings.retries - 1):
            if outcome is not None:
                return outcome
            async with self.journal.entity_turn(request.entity_type, request.entity_id) as conn:
                outcome = await self._replayed(request, digest) or await self._attempt(
                    entity, request, digest, conn=conn
                )
        if outcome is not None:
            return outcome
        raise ContentionExhausted(self.settings.retries + 1)

    async def _replayed(self, request: CommandRequest, digest: str) -> CommandOutcome | None:
        """The stored reply, if the key was taken since we last looked. The race that lost may
        have been lost to this very request, sent again to another process: its retry must
        answer what the first attempt answered, not a re-decision on the state it made."""
        if not request.idempotency_key:
            return None
        stored = await self._stored_reply(request, digest)
        return None if stored is None else CommandOutcome(stored, replayed=True)

    async def _attempt(
        self,
        entity: EventSourcedEntity[Any],
        request: CommandRequest,
        digest: str,
        conn: AsyncConnection | None,
    ) -> CommandOutcome | None:
        """Decide and append once; None means "lost a race, try again on fresh state"."""
        key = (request.entity_type, request.entity_id)
        state, version, fresh = await self._current(entity, request.entity_id, conn)
        if not _precondition_holds(request, version):
            if not fresh:
                state, version, fresh = await self._current(entity, request.entity_id, conn, True)
            if not _precondition_holds(request, version):
                expected = "*" if request.expected_version is None else request.expected_version
                raise VersionMismatch(expected=expected, current=version)
        try:
            decision = entity.decide(state, request.command, request.body)
        except Rejection as rejection:
            if not fresh and await self._is_stale(key, version):
                return None
            # The state may be what this very command made, committed by a twin request with
            # the same key on another process after our first look: its reply, not a 409.
            replayed = await self._replayed(request, digest)
            if replayed is not None:
                return replayed
            raise CommandRejected(
                rejection.reason, version=version, detail=rejection.detail
            ) from None
        if not decision.events and not fresh and await self._is_stale(key, version):
            return None
        result = self._result(entity, request.entity_id, version, decision)
        if not decision.events and not decision.timers and not request.idempotency_key:
            return CommandOutcome(result)
        try:
            await self._append(entity, request, digest, state, version, decision, result, conn)
        except VersionConflict:
            self.cache.forget(key)
            if request.expected_version is not None:
                current = await self.journal.current_version(*key)
                raise VersionMismatch(expected=request.expected_version, current=current) from None
            return None
        except IdempotencyKeyTaken:
            return await self._replayed(request, digest)
        return CommandOutcome(result)

    async def _current(
        self,
        entity: EventSourcedEntity[Any],
        entity_id: str,
        conn: AsyncConnection | None,
        force_fresh: bool = False,
    ) -> tuple[Any, int, bool]:
        """State and version: cached on a first try, always fresh during a turn."""
        use_cache = conn is None and not force_fresh
        cached = self.cache.get((entity.name, entity_id)) if use_cache else None
        if cached is not None:
            return cached[0], cached[1], False
        loaded = await self.journal.load(entity, entity_id, conn)
        self.cache.put((entity.name, entity_id), loaded.state, loaded.version)
        return loaded.state, loaded.version, True

    async def _is_stale(self, key: tuple[str, str], version: int) -> bool:
        """A decision that writes nothing has no version check: confirm the cache was current."""
        stale = await self.journal.current_version(*key) != version
        if stale:
            self.cache.forget(key)
        return stale

    def _result(
        self, entity: EventSourcedEntity[Any], entity_id: str, version: int, decision: Decision
    ) -> CommandResult:
        appended = [
            AppendedEvent(
                event_id=random_uuid(),
                type=f"{entity.name}.{event.event_type}",
                version=version + offset,
            )
            for offset, event in enumerate(decision.events, start=1)
        ]
        return CommandResult(
            entity_id=entity_id,
            version=version + len(appended),
            events=appended,
            reply=decision.reply,
        )

    async def _append(
        self,
        entity: EventSourcedEntity[Any],
        request: CommandRequest,
        digest: str,
        state: BaseModel,
        version: int,
        decision: Decision,
        result: CommandResult,
        conn: AsyncConnection | None,
    ) -> None:
        new_state = entity.fold(decision.events, state)
        every = entity.snapshot_every
        if every is None:
            every = self.settings.snapshot_every
        crosses = every > 0 and version // every != result.version // every
        events = zip(result.events, decision.events, strict=True)
        timers, cancelled = self._timer_rows(entity, request, decision, result)
        pending = PendingAppend(
            entity_type=entity.name,
            entity_id=request.entity_id,
            first_version=version + 1,
            events=[(appended.event_id, event) for appended, event in events],
            metadata={"command": request.command, **request.metadata},
            idempotency=self._record(request, digest, result),
            snapshot=EntitySnapshot(result.version, new_state) if crosses else None,
            state_schema=entity.state_schema,
            timers=timers,
            cancelled_timers=cancelled,
        )
        await self.journal.append(pending, conn)
        self.cache.put((entity.name, request.entity_id), new_state, result.version)

    def _timer_rows(
        self,
        entity: EventSourcedEntity[Any],
        request: CommandRequest,
        decision: Decision,
        result: CommandResult,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The decision's timers as rows; for one key the handler's last word wins."""
        owner = f"{entity.name}/{request.entity_id}"
        final: dict[str, Timer | CancelTimer] = {change.key: change for change in decision.timers}
        causation = str(result.events[0].event_id) if result.events else None
        metadata = {
            **carried(request.metadata),
            "causation_id": causation,
            "scheduled_by": f"{entity.name}/{request.entity_id}:{request.command}",
        }
        timers, cancels = [], []
        for key, change in final.items():
            if isinstance(change, CancelTimer):
                cancels.append({"owner": owner, "key": key})
                continue
            target = change.entity_type or entity.name
            self._check_target(entity.name, target, change.command)
            timers.append(
                timer_row(owner, change, target, change.entity_id or request.entity_id, metadata)
            )
        return timers, cancels

    def _check_target(self, source: str, entity_type: str, command: str) -> None:
        """A timer aimed at nothing is a bug in the handler: surface it now, not when due."""
        target = self.service.entity_types.get(entity_type)
        if target is None or command not in target.commands:
            raise TypeError(f"{source}: a timer targets unknown command {entity_type}/{command}")

    def _record(
        self, request: CommandRequest, digest: str, result: CommandResult
    ) -> IdempotencyRecord | None:
        if not request.idempotency_key:
            return None
        reply = result.model_dump(mode="json")
        return IdempotencyRecord(request.idempotency_scope, request.idempotency_key, digest, reply)

    async def _stored_reply(self, request: CommandRequest, digest: str) -> CommandResult | None:
        assert request.idempotency_key
        ttl = self.settings.idempotency_ttl_seconds
        scope, key = request.idempotency_scope, request.idempotency_key
        stored = await self.journal.find_command(scope, key, ttl)
        if stored is None:
            return None
        if not stored.live:
            await self.journal.forget_expired_command(scope, key, ttl)
            return None
        if stored.request_hash != digest:
            raise IdempotencyKeyReused(key)
        return CommandResult.model_validate(stored.reply)
