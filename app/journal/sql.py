"""The journal's SQL, kept in one place so the concurrency reasoning sits next to it.

Appending is ONE statement (so one round trip, atomic under autocommit): the events, their outbox
rows, the idempotency record and the snapshot are written together or not at all. Concurrency:
  * two writers deciding on the same entity version both try to insert ``version = n+1``; the
    unique ``events_entity_version_key`` lets exactly one commit, the other gets a
    UniqueViolation naming that constraint and re-decides on fresh state;
  * under sustained contention the process with a warm cache would always beat the one that
    must reload first, so a loser retries *pessimistically*: it holds an exclusive advisory
    lock on the entity (ENTITY_TURN_LOCK) while it reloads, decides and appends. Every append
    takes the same lock shared, so nobody can slip a version in during the loser's turn;
    uncontended appends pay only an in-memory shared lock;
  * two requests with the same Idempotency-Key both try to insert ``command_log``'s primary key;
    the second blocks until the first commits, then fails, and answers with the stored reply.
"""

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

CURRENT_VERSION = """
SELECT COALESCE(max(version), 0) FROM events
WHERE entity_type = %(entity_type)s AND entity_id = %(entity_id)s
"""

# Advisory locks in the two-int4 form: (namespace, hash of the entity). Collisions only cost a wait.
ENTITY_LOCK_NAMESPACE = 0x51CE
ENTITY_LOCK_KEY = "%(lock_namespace)s, hashtext(%(entity_type)s || '/' || %(entity_id)s)"

TAKE_ENTITY_TURN = f"SELECT pg_advisory_lock({ENTITY_LOCK_KEY})"
END_ENTITY_TURN = f"SELECT pg_advisory_unlock({ENTITY_LOCK_KEY})"

APPEND = f"""
WITH turn AS (
    SELECT pg_advisory_xact_lock_shared({ENTITY_LOCK_KEY})
), new_events AS (
    INSERT INTO events
        (event_id, entity_type, entity_id, version, type, schema_version, data, metadata)
    SELECT e.event_id, %(entity_type)s, %(entity_id)s, e.version, e.type, e.schema_version,
           e.data, %(metadata)s
    FROM turn, jsonb_to_recordset(%(events)s) AS e(
        event_id uuid, version int, type text, schema_version int, data jsonb)
    RETURNING id
), new_outbox AS (
    INSERT INTO outbox (event_row_id) SELECT id FROM new_events ORDER BY id
), new_command AS (
    INSERT INTO command_log (scope, key, request_hash, reply)
    SELECT %(scope)s, %(key)s, %(request_hash)s, %(reply)s
    WHERE %(key)s::text IS NOT NULL
), new_snapshot AS (
    INSERT INTO snapshots (entity_type, entity_id, version, state_schema, state)
    SELECT %(entity_type)s, %(entity_id)s, %(snapshot_version)s, %(state_schema)s,
           %(snapshot)s
    WHERE %(snapshot)s::jsonb IS NOT NULL
    ON CONFLICT (entity_type, entity_id) DO UPDATE
        SET version = excluded.version, state_schema = excluded.state_schema,
            state = excluded.state, taken_at = now()
        WHERE snapshots.version < excluded.version
)
SELECT count(*) FROM new_events
"""

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
