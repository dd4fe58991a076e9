"""Checkpoints: each consumer's position in the log, its health, and the operator's controls.

A consumer's position only moves forward, and only in one of two ways: a batch that commits
its effect with the new position (views, in one transaction), or an operator's skip, which
parks exactly the event the consumer is stuck on. Both lock the checkpoint row first, so they
serialize with each other and with a second process that wrongly believes it leads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from psycopg import AsyncConnection, sql
from psycopg.rows import dict_row
from psycopg_pool import AsyncConnectionPool

from app.relay.sql import CHECKPOINT_CHANNEL, CONTROL_CHANNEL, HEAD_SEQ

# A consumer's first position: 0 (the whole log) or the head when it is first registered
# ("now"). A consumer registered before keeps its position, whatever it asks for now.
REGISTER = f"""
INSERT INTO checkpoints (name, kind, position)
VALUES (%(name)s, %(kind)s, CASE WHEN %(from_now)s THEN {HEAD_SEQ} ELSE 0 END)
ON CONFLICT (name) DO NOTHING
"""

# A consumer of another service's stream: its position is the producer's seq. "now" cannot be
# known until the producer answers, so it waits for the head (``start_at_head``).
REGISTER_UPSTREAM = """
INSERT INTO checkpoints (name, kind, position, upstream, waiting_for_head)
VALUES (%(name)s, %(kind)s, 0, %(upstream)s, %(from_now)s)
ON CONFLICT (name) DO UPDATE SET upstream = excluded.upstream
"""

START_AT_HEAD = """
UPDATE checkpoints SET position = %(head)s, waiting_for_head = false, updated_at = now()
WHERE name = %(name)s AND waiting_for_head
"""

UPSTREAM_REACHED = """
UPDATE checkpoints
SET upstream_head = %(head)s, upstream_error = NULL, upstream_failing_since = NULL,
    upstream_caught_up_at = CASE WHEN %(caught_up)s THEN now() ELSE upstream_caught_up_at END
WHERE name = %(name)s
"""

UPSTREAM_FAILED = """
UPDATE checkpoints
SET upstream_error = %(error)s, upstream_failing_since = COALESCE(upstream_failing_since, now())
WHERE name = %(name)s
"""

UPSTREAM_PROGRESS = """
SELECT position, paused, waiting_for_head FROM checkpoints WHERE name = %(name)s
"""

CLAIM = """
SELECT position, generation, paused FROM checkpoints WHERE name = %(name)s FOR UPDATE
"""

# A failure is cleared only once the position passes the event that failed: committing the
# events before it (as a failing batch does) keeps the count of attempts at it.
ADVANCE = f"""
WITH moved AS (
    SELECT %(position)s::bigint AS position
)
UPDATE checkpoints
SET position = moved.position,
    failing_seq = CASE WHEN moved.position >= failing_seq THEN NULL ELSE failing_seq END,
    error = CASE WHEN moved.position >= failing_seq THEN NULL ELSE error END,
    failing_since = CASE WHEN moved.position >= failing_seq THEN NULL ELSE failing_since END,
    attempts = CASE WHEN moved.position >= failing_seq THEN 0 ELSE attempts END,
    upstream_seq = COALESCE(%(upstream_seq)s::bigint, checkpoints.upstream_seq),
    updated_at = now()
FROM moved
WHERE name = %(name)s AND (%(expected)s::bigint IS NULL OR checkpoints.position = %(expected)s)
  AND (%(generation)s::integer IS NULL OR checkpoints.generation = %(generation)s)
RETURNING pg_notify('{CHECKPOINT_CHANNEL}', name || ':' || checkpoints.position)
"""

# A batch committed in one round trip (``Checkpoints.commit_at``): its statements pipelined
# in one transaction, each run in turn with its own snapshot. The checkpoint row is
# locked first, as a claim does, so the order of locks is a claim's (a rebuild's swap locks
# the row, then the table); each effect only writes while the checkpoint is still where the
# batch started (STILL_AT), and the advance says whether it was.
LOCK_ROW = "SELECT 1 FROM checkpoints WHERE name = %(name)s FOR UPDATE"
STILL_AT = sql.SQL("""EXISTS (
    SELECT 1 FROM checkpoints
    WHERE name = %(name)s AND position = %(expected)s
      AND (%(generation)s::integer IS NULL OR generation = %(generation)s))""")

RECORD_FAILURE = """
UPDATE checkpoints
SET failing_seq = %(seq)s, error = %(error)s, failing_since = COALESCE(failing_since, now()),
    attempts = attempts + 1, updated_at = now()
WHERE name = %(name)s
RETURNING attempts
"""

RECORD_LEADER = "UPDATE checkpoints SET leader = %(leader)s WHERE name = %(name)s"

SET_PAUSED = f"""
UPDATE checkpoints SET paused = %(paused)s, updated_at = now() WHERE name = %(name)s
RETURNING pg_notify('{CONTROL_CHANNEL}', name)
"""

PARK = """
INSERT INTO parked_events (consumer, seq, event_id, error)
SELECT %(name)s, seq, event_id, %(error)s FROM events WHERE seq = %(seq)s
ON CONFLICT DO NOTHING
"""
# An upstream event is not in this service's log: parked by its seq (the producer's) alone.
PARK_UPSTREAM = """
INSERT INTO parked_events (consumer, seq, event_id, error)
VALUES (%(name)s, %(seq)s, NULL, %(error)s)
ON CONFLICT DO NOTHING
"""

STATUS = f"""
SELECT c.name, c.kind, c.position, c.paused, c.leader, c.failing_seq, c.error,
       c.failing_since, c.attempts, c.updated_at, c.generation, c.rebuild_state,
       c.rebuild_position, c.rebuild_error, c.rebuild_started_at, c.rebuilt_at,
       c.upstream, c.upstream_error, c.upstream_failing_since, c.waiting_for_head,
       CASE WHEN c.upstream IS NULL THEN head.seq
            ELSE GREATEST(COALESCE(c.upstream_head, 0), c.position) END AS head,
       CASE WHEN c.upstream IS NULL THEN COALESCE(EXTRACT(EPOCH FROM now() - (
           SELECT recorded_at FROM events WHERE seq = c.position + 1)), 0)
            WHEN COALESCE(c.upstream_head, 0) <= c.position THEN 0
            ELSE COALESCE(EXTRACT(EPOCH FROM now() - c.upstream_caught_up_at), 0)
       END AS lag_seconds,
       (SELECT count(*) FROM parked_events p WHERE p.consumer = c.name) AS parked,
       CASE WHEN c.upstream IS NULL THEN outbox.rows ELSE 0 END AS unsequenced
FROM checkpoints c, (SELECT {HEAD_SEQ} AS seq) AS head,
     (SELECT count(*) AS rows FROM outbox) AS outbox
WHERE %(name)s::text IS NULL OR c.name = %(name)s
ORDER BY c.kind, c.name
"""

POSITION = "SELECT position FROM checkpoints WHERE name = %(name)s"

FORGET = """
WITH parked AS (DELETE FROM parked_events WHERE consumer = %(name)s)
DELETE FROM checkpoints WHERE name = %(name)s
"""

PROGRESS = f"""
SELECT position, paused, {HEAD_SEQ}
FROM checkpoints WHERE name = %(name)s
"""


@dataclass(frozen=True)
class Claim:
    position: int
    generation: int
    paused: bool


class SkipRefused(Exception):
    """The consumer is not stuck on the event the operator asked to skip."""


class Checkpoints:
    def __init__(self, pool: AsyncConnectionPool) -> None:
        self.pool = pool

    async def register(self, name: str, kind: str, start_from: str = "beginning") -> None:
        params = {"name": name, "kind": kind, "from_now": start_from == "now"}
        async with self.pool.connection() as conn:
            await conn.execute(REGISTER, params)

    async def register_upstream(
        self, name: str, kind: str, upstream: str, start_from: str = "beginning"
    ) -> None:
        params = {"name": name, "kind": kind, "upstream": upstream, "from_now": start_from == "now"}
        async with self.pool.connection() as conn:
            await conn.execute(REGISTER_UPSTREAM, params)

    async def upstream_progress(self, name: str) -> tuple[int, bool, bool]:
        """Where an upstream consumer is, whether it is paused, and whether it still waits
        to learn the producer's head (registered to start "now")."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(UPSTREAM_PROGRESS, {"name": name})).fetchone()
        if row is None:
            raise LookupError(f"no checkpoint for consumer {name!r}")
        return int(row[0]), bool(row[1]), bool(row[2])

    async def start_at_head(self, name: str, head: int) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(START_AT_HEAD, {"name": name, "head": head})

    async def upstream_reached(self, name: str, head: int, *, caught_up: bool) -> None:
        params = {"name": name, "head": head, "caught_up": caught_up}
        async with self.pool.connection() as conn:
            await conn.execute(UPSTREAM_REACHED, params)

    async def upstream_failed(self, name: str, error: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(UPSTREAM_FAILED, {"name": name, "error": error[:4000]})

    def upstream_seq(self, position: int) -> int | None:
        """The producer's seq to record with ``position`` (a topic partition's; None: kept)."""
        return None

    async def broker_reached(self, name: str) -> None:
        """A publisher's broker acknowledges again: its error goes."""
        async with self.pool.connection() as conn:
            await conn.execute(
                "UPDATE checkpoints SET upstream_error = NULL, upstream_failing_since = NULL"
                " WHERE name = %(name)s",
                {"name": name},
            )

    async def record_leader(self, name: str, leader: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(RECORD_LEADER, {"name": name, "leader": leader})

    async def claim(self, conn: AsyncConnection, name: str) -> Claim:
        """Lock the row for the rest of ``conn``'s transaction."""
        row = await (await conn.execute(CLAIM, {"name": name})).fetchone()
        if row is None:
            raise LookupError(f"no checkpoint for consumer {name!r}")
        return Claim(*row)

    async def advance(self, conn: AsyncConnection, name: str, position: int) -> None:
        """Move the checkpoint of a consumer whose row ``conn`` has claimed."""
        params = {"name": name, "position": position, "expected": None, "generation": None}
        await conn.execute(ADVANCE, {**params, "upstream_seq": self.upstream_seq(position)})

    async def advance_from(self, name: str, expected: int, position: int) -> bool:
        """Move the checkpoint only if it is still at ``expected``: an operator's skip or
        rewind made meanwhile wins, and the consumer starts again from there."""
        params = {
            "name": name,
            "position": position,
            "expected": expected,
            "generation": None,
            "upstream_seq": self.upstream_seq(position),
        }
        async with self.pool.connection() as conn:
            cursor = await conn.execute(ADVANCE, params)
            return cursor.rowcount == 1

    async def commit_at(
        self,
        name: str,
        expected: int,
        generation: int | None,
        position: int,
        effects: Sequence[tuple[sql.Composable, dict[str, Any]]],
    ) -> bool:
        """``effects`` and the checkpoint moved from ``expected`` to ``position``, in one
        transaction and ONE round trip, or nothing at all when the checkpoint is not at
        ``expected`` of ``generation`` any more (an operator's skip, another leader, a rebuilt
        table swapped in; None: any generation).

        Each effect is a statement whose condition includes ``STILL_AT``; its parameters
        must not use the names ``name``, ``position``, ``expected``, ``generation`` or
        ``upstream_seq``. The statements go in pipeline mode, sent together and answered
        together, between a BEGIN and a COMMIT of their own. Each is a prepared statement
        once it has run a few times: planning them every batch cost more than the round
        trips saved."""
        params: dict[str, Any] = {
            "name": name,
            "position": position,
            "expected": expected,
            "generation": generation,
            "upstream_seq": self.upstream_seq(position),
        }
        async with self.pool.connection() as conn, conn.pipeline():
            # BEGIN and COMMIT are statements of the pipeline, not psycopg's transaction()
            # (which waits for each): an error raised here midway (a value that cannot be
            # sent, a cancellation) leaves the transaction open without its COMMIT, and the
            # pool rolls it back. Without them, the Sync that ends the pipeline would commit
            # whatever had been sent, without the advance.
            await conn.execute("BEGIN")
            await conn.execute(LOCK_ROW, params)
            for statement, values in effects:
                await conn.execute(statement, {**params, **values})
            advanced = await conn.execute(ADVANCE, params)
            await conn.execute("COMMIT")
        return advanced.rowcount == 1

    async def record_failure(self, name: str, seq: int, error: str) -> int:
        params = {"name": name, "seq": seq, "error": error[:4000]}
        async with self.pool.connection() as conn:
            row = await (await conn.execute(RECORD_FAILURE, params)).fetchone()
        return int(row[0]) if row else 1

    async def set_paused(self, name: str, paused: bool) -> bool:
        async with self.pool.connection() as conn:
            cursor = await conn.execute(SET_PAUSED, {"name": name, "paused": paused})
            return cursor.rowcount == 1

    async def skip(self, name: str, seq: int | None) -> int:
        """Park the event the consumer is stuck on and move past it; returns its seq."""
        async with self.pool.connection() as conn, conn.transaction():
            cursor = await conn.execute(
                "SELECT position, failing_seq, error, upstream FROM checkpoints"
                " WHERE name = %(name)s FOR UPDATE",
                {"name": name},
            )
            row = await cursor.fetchone()
            if row is None:
                raise LookupError(name)
            position, failing_seq, error, upstream = row
            if failing_seq is None:
                raise SkipRefused(f"{name} is not failing: there is no event to skip")
            if seq is not None and seq != failing_seq:
                raise SkipRefused(f"{name} is stuck on seq {failing_seq}, not {seq}")
            park = PARK if upstream is None else PARK_UPSTREAM
            await conn.execute(park, {"name": name, "seq": failing_seq, "error": error})
            await self.advance(conn, name, max(position, failing_seq))
            await conn.execute("SELECT pg_notify(%s, %s)", [CONTROL_CHANNEL, name])
            return int(failing_seq)

    async def forget(self, name: str) -> None:
        async with self.pool.connection() as conn:
            await conn.execute(FORGET, {"name": name})

    async def position(self, name: str) -> int | None:
        async with self.pool.connection() as conn:
            row = await (await conn.execute(POSITION, {"name": name})).fetchone()
        return int(row[0]) if row else None

    async def progress(self, name: str) -> tuple[int, bool, int]:
        """Where the consumer is, whether it is paused, and the log's head."""
        async with self.pool.connection() as conn:
            row = await (await conn.execute(PROGRESS, {"name": name})).fetchone()
        if row is None:
            raise LookupError(f"no checkpoint for consumer {name!r}")
        return int(row[0]), bool(row[1]), int(row[2])

    async def status(self, name: str | None = None) -> list[dict[str, Any]]:
        async with self.pool.connection() as conn, conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(STATUS, {"name": name})
            return await cur.fetchall()
