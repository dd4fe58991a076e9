"""The journal's SQL, kept in one place so the concurrency reasoning sits next to it.

Appending is ONE statement (so one round trip, atomic under autocommit): the events, their outbox
rows, the idempotency records and the snapshots of a batch of commands (group commit, see
app/db/group_commit.py) are written together or not at all. Concurrency:
  * two writers deciding on the same entity version both try to insert ``version = n+1``; the
    unique ``events_entity_version_key`` lets exactly one commit, the other gets a
    UniqueViolation naming that constraint and re-decides on fresh state;
  * under sustained contention the process with a warm cache would always beat the one that
    must reload first, so a loser retries *pessimistically*: it holds an exclusive advisory
    lock on the entity (ENTITY_TURN_LOCK) while it reloads, decides and appends. Every append
    takes the same lock shared, so nobody can slip a version in during the loser's turn;
    uncontended appends pay only an in-memory shared lock;
  * two requests with the same Idempotency-Key both try to insert ``command_log``'s primary key;
    the second blocks until the first commits, then fails, and answers with the stored reply;
  * batches in flight together (several per process, and other processes') wait on each
    other's uncommitted keys, so every part of the statement writes its rows in one order:
    events by entity and version, idempotency records by key, snapshots by entity; timers,
    scheduled and cancelled, take a lock per key first, in one order (app/timers/sql.py).
    The parts run in the same order in every batch, so a batch only ever waits for a key
    that comes after every key it holds, and no two batches wait on each other in a circle.
    (Written in the order commands arrived, two processes appending the next version of the
    same entities in different orders deadlocked, failing both batches' every command.)
"""

import functools

from app.timers.sql import (
    CANCEL_IN_APPEND,
    SCHEDULE_IN_APPEND,
    SCHEDULED_IN_APPEND,
    TIMER_TURNS_IN_APPEND,
)

OUTBOX_CHANNEL = "sluice_outbox"  # notified by every append: the sequencer looks again

LOAD_ENTITY = """
WITH snap AS (
    SELECT version, state FROM snapshots
    WHERE entity_type = %(entity_type)s AND entity_id = %(entity_id)s
      AND state_schema = %(state_schema)s
)
SELECT 0 AS part, version, NULL::text AS type, NULL::int AS schema_version, state AS data
FROM snap
UNION ALL
SELECT 1, version, type, schema_version, data FROM events
WHERE entity_type = %(entity_type)s AND entity_id = %(entity_id)s
  AND version > COALESCE((SELECT version FROM snap), 0)
"""

# An entity whose every event carries its whole state (a key-value entity): the last event
# is the state, whatever came before it.
LOAD_LATEST = """
SELECT 1 AS part, version, type, schema_version, data FROM events
WHERE entity_type = %(entity_type)s AND entity_id = %(entity_id)s
ORDER BY version DESC
LIMIT 1
"""

CURRENT_VERSION = """
SELECT COALESCE(max(version), 0) FROM events
WHERE entity_type = %(entity_type)s AND entity_id = %(entity_id)s
"""

# Each entity's current version, for a batch that lost a version race: which items lost it.
CURRENT_VERSIONS = """
SELECT e.entity_type, e.entity_id,
       COALESCE((SELECT max(version) FROM events
                 WHERE entity_type = e.entity_type AND entity_id = e.entity_id), 0)
FROM unnest(%(entity_types)s::text[], %(entity_ids)s::text[]) AS e(entity_type, entity_id)
"""

# Advisory locks in the two-int4 form: (namespace, hash of the entity). Collisions only cost a wait.
ENTITY_LOCK_NAMESPACE = 0x51CE
ENTITY_LOCK_KEY = "%(lock_namespace)s, hashtext(%(entity_type)s || '/' || %(entity_id)s)"

TAKE_ENTITY_TURN = f"SELECT pg_advisory_lock({ENTITY_LOCK_KEY})"
END_ENTITY_TURN = f"SELECT pg_advisory_unlock({ENTITY_LOCK_KEY})"

# One statement appends a whole batch: the commands of several entities (each entity at most
# once, since a process runs one command per entity at a time), committed together. A unique
# violation fails the whole batch; the caller then re-runs its items one by one to attribute it.
# Timers the commands asked for ride in the same statement (the timers package's parts).
# The idempotency and snapshot parts are left out when a batch has none: planning and running
# them on empty input cost ~110 us per statement, a third of an uncontended append.
_APPEND_EVENTS = """
WITH batch AS (
    SELECT * FROM ROWS FROM (
        jsonb_to_recordset(%(events)s::jsonb) AS (
            event_id uuid, entity_type text, entity_id text, version int, type text,
            schema_version int, data jsonb, metadata jsonb)
    ) AS e(event_id, entity_type, entity_id, version, type, schema_version, data, metadata)
), turns AS (
    SELECT pg_advisory_xact_lock_shared(
        %(lock_namespace)s, hashtext(entity_type || '/' || entity_id))
    FROM (SELECT DISTINCT entity_type, entity_id FROM batch) AS entities
), new_events AS (
    INSERT INTO events
        (event_id, entity_type, entity_id, version, type, schema_version, data, metadata)
    SELECT event_id, entity_type, entity_id, version, type, schema_version, data, metadata
    FROM batch
    WHERE (SELECT count(*) FROM turns) >= 0  -- take every entity's shared lock first
    ORDER BY entity_type, entity_id, version  -- one order for every batch: see above
    RETURNING id
), new_outbox AS (
    INSERT INTO outbox (event_row_id) SELECT id FROM new_events ORDER BY id
)"""

_APPEND_COMMANDS = """, new_commands AS (
    INSERT INTO command_log (scope, key, request_hash, reply)
    SELECT scope, key, request_hash, reply
    FROM jsonb_to_recordset(%(commands)s::jsonb)
        AS c(scope text, key text, request_hash text, reply jsonb)
    ORDER BY scope, key
)"""

_APPEND_SNAPSHOTS = """, new_snapshots AS (
    INSERT INTO snapshots (entity_type, entity_id, version, state_schema, state)
    SELECT entity_type, entity_id, version, state_schema, state
    FROM jsonb_to_recordset(%(snapshots)s::jsonb)
        AS s(entity_type text, entity_id text, version int, state_schema text, state jsonb)
    ORDER BY entity_type, entity_id
    ON CONFLICT (entity_type, entity_id) DO UPDATE
        SET version = excluded.version, state_schema = excluded.state_schema,
            state = excluded.state, taken_at = now()
        WHERE snapshots.version < excluded.version
)"""


# The notification names the appending process and, while other processes append here too,
# carries the events it wrote, so those processes bring the entities up to date in their
# caches (a stale entry would lose its next append's version race, and a forgotten one costs
# a reload: with two API processes, a fifth of each one's time went to reloading entities
# the other had written). A payload past PostgreSQL's limit (8000 bytes) would fail the
# append: a batch whose events do not fit names its entities alone (other caches forget
# them), and one whose names do not fit either notifies the origin alone (other caches find
# out by losing a race). So does every batch while the notification queue is over 1% full: a
# listener that stopped reading (a frozen process) holds the queue for everyone, and once it
# is full every NOTIFY, and with it every append, fails; the events would fill it ~1000x
# faster than a bare wake-up. Each part is computed only when the one before is not used.
def _fitting(aggregate: str) -> str:
    """The payload ``origin <aggregate over the batch>``, or NULL past the size limit."""
    return f"""(
        SELECT written FROM (SELECT %(origin)s || ' ' || ({aggregate})::text FROM batch)
            AS payload(written)
        WHERE octet_length(written) < 7900
    )"""


_EVENTS = """json_agg(json_build_array(entity_type, entity_id, version, type, schema_version, data)
    ORDER BY entity_type, entity_id, version)"""
_NAMES = "json_agg(DISTINCT jsonb_build_array(entity_type, entity_id))"
_WRITTEN = f"""CASE WHEN pg_notification_queue_usage() >= %(names_below)s THEN %(origin)s ELSE
    COALESCE(CASE WHEN %(with_events)s THEN {_fitting(_EVENTS)} END, {_fitting(_NAMES)}, %(origin)s)
END"""


@functools.cache
def append_batch(*, commands: bool, snapshots: bool, timers: bool, cancels: bool) -> str:
    """The append statement with only the parts a batch needs."""
    return (
        _APPEND_EVENTS
        + (_APPEND_COMMANDS if commands else "")
        + (_APPEND_SNAPSHOTS if snapshots else "")
        + (TIMER_TURNS_IN_APPEND if timers or cancels else "")
        + (SCHEDULE_IN_APPEND if timers else "")
        + (CANCEL_IN_APPEND if cancels else "")
        + f"\nSELECT (SELECT count(*) FROM new_events), pg_notify('{OUTBOX_CHANNEL}', {_WRITTEN})"
        + (SCHEDULED_IN_APPEND if timers else "")
        + "\n"
    )


FIND_COMMAND = """
SELECT request_hash, reply, created_at > now() - make_interval(secs => %(ttl)s) AS live
FROM command_log WHERE scope = %(scope)s AND key = %(key)s
"""

FORGET_EXPIRED_COMMAND = """
DELETE FROM command_log
WHERE scope = %(scope)s AND key = %(key)s AND created_at <= now() - make_interval(secs => %(ttl)s)
"""

PURGE_EXPIRED_COMMANDS = """
DELETE FROM command_log WHERE created_at <= now() - make_interval(secs => %(ttl)s)
"""

ENTITY_EVENTS = """
SELECT event_id, version, type, schema_version, data, metadata, recorded_at, seq FROM events
WHERE entity_type = %(entity_type)s AND entity_id = %(entity_id)s AND version > %(after)s
ORDER BY version LIMIT %(limit)s
"""

ENTITY_VERSION_CONSTRAINT = "events_entity_version_key"
COMMAND_LOG_CONSTRAINT = "command_log_pkey"
