"""The timers table's SQL, all of it: its one owner is this package.

Claims are leases, not open transactions: a worker marks due timers ``locked_until`` a while
ahead with ``FOR UPDATE SKIP LOCKED`` (so processes share the work without waiting on each
other) and commits; firing happens outside any transaction, then the row is deleted by its
``timer_id``. A worker that dies mid-way leaves a lease that expires, and the timer fires
again — harmlessly, because its command carries the idempotency key ``timer:{timer_id}``.

Timers asked for by a command are written by the journal's append statement, in the same
transaction as the events: ``SCHEDULE_IN_APPEND`` and ``CANCEL_IN_APPEND`` are the parts it
composes in (they read the ``%(timers)s`` and ``%(cancels)s`` JSON arrays of ``timer_row``).
"""

TIMER_CHANNEL = "sluice_timers"  # a timer was scheduled: the timer workers look again

SCHEDULE = f"""
WITH scheduled AS (
    INSERT INTO timers
        (owner, key, timer_id, entity_type, entity_id, command, body, metadata, due_at)
    VALUES (%(owner)s, %(key)s, %(timer_id)s, %(entity_type)s, %(entity_id)s, %(command)s,
            %(body)s, %(metadata)s, %(due_at)s)
    ON CONFLICT (owner, key) DO UPDATE
        SET timer_id = excluded.timer_id, entity_type = excluded.entity_type,
            entity_id = excluded.entity_id, command = excluded.command, body = excluded.body,
            metadata = excluded.metadata, due_at = excluded.due_at, attempts = 0,
            locked_until = NULL, last_error = NULL
        WHERE timers.timer_id <> excluded.timer_id
    RETURNING 1
)
SELECT pg_notify('{TIMER_CHANNEL}', '') FROM scheduled
"""

CANCEL = "DELETE FROM timers WHERE owner = %(owner)s AND key = %(key)s"

CLAIM = """
UPDATE timers SET locked_until = now() + make_interval(secs => %(lease)s),
                  attempts = attempts + 1
WHERE (owner, key) IN (
    SELECT owner, key FROM timers
    WHERE due_at <= now() AND (locked_until IS NULL OR locked_until < now())
    ORDER BY due_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED)
RETURNING timer_id, owner, key, entity_type, entity_id, command, body, metadata, attempts
"""

DONE = "DELETE FROM timers WHERE timer_id = %(timer_id)s"

# Leases a worker took and could not finish (the database went away mid-batch): handed back,
# so the timers fire as soon as it returns rather than when the lease runs out.
RELEASE = "UPDATE timers SET locked_until = NULL WHERE timer_id = ANY(%(timer_ids)s)"

RETRY_LATER = """
UPDATE timers SET last_error = %(error)s,
                  locked_until = now() + make_interval(secs => %(delay)s)
WHERE timer_id = %(timer_id)s
"""

NEXT_DUE = """
SELECT EXTRACT(EPOCH FROM min(GREATEST(due_at, COALESCE(locked_until, due_at))) - now())
FROM timers
"""


# The timers a batch schedules and cancels are one key space written in two parts, so
# sorting each part is not enough: one batch could cancel k2 while scheduling k1, another
# cancel k1 while scheduling k2, and deadlock. Each batch first takes a transaction lock per
# key, in the order of the locks' ids, and only then writes; a batch never waits for a key
# while holding a later one. (A collision of two keys' hashes only costs a wait.)
TIMER_LOCK_NAMESPACE = 0x51D1
TIMER_TURNS_IN_APPEND = f""", timer_turns AS MATERIALIZED (
    SELECT count(pg_advisory_xact_lock({TIMER_LOCK_NAMESPACE}, turn)) AS taken
    FROM (
        SELECT DISTINCT hashtext(owner || '/' || key) AS turn
        FROM (
            SELECT owner, key
            FROM jsonb_to_recordset(%(timers)s::jsonb) AS t(owner text, key text)
            UNION ALL
            SELECT owner, key
            FROM jsonb_to_recordset(%(cancels)s::jsonb) AS c(owner text, key text)
        ) AS keys
        ORDER BY turn
    ) AS turns
)"""

# Scheduling a key again moves the timer (and gives it a new timer_id, so it fires again).
SCHEDULE_IN_APPEND = f""", new_timers AS (
    INSERT INTO timers
        (owner, key, timer_id, entity_type, entity_id, command, body, metadata, due_at)
    SELECT owner, key, timer_id, entity_type, entity_id, command, body, metadata, due_at
    FROM jsonb_to_recordset(%(timers)s::jsonb) AS t(
        owner text, key text, timer_id uuid, entity_type text, entity_id text, command text,
        body jsonb, metadata jsonb, due_at timestamptz)
    WHERE (SELECT taken FROM timer_turns) >= 0  -- every key's turn first
    ORDER BY owner, key
    ON CONFLICT (owner, key) DO UPDATE
        SET timer_id = excluded.timer_id, entity_type = excluded.entity_type,
            entity_id = excluded.entity_id, command = excluded.command, body = excluded.body,
            metadata = excluded.metadata, due_at = excluded.due_at, attempts = 0,
            locked_until = NULL, last_error = NULL, created_at = now()
), new_timers_notified AS (
    SELECT pg_notify('{TIMER_CHANNEL}', '')
)"""
SCHEDULED_IN_APPEND = ", (SELECT count(*) FROM new_timers_notified)"  # makes the notify run

CANCEL_IN_APPEND = """, cancelling_timers AS MATERIALIZED (
    SELECT owner, key FROM timers
    WHERE (owner, key) IN (
        SELECT owner, key FROM jsonb_to_recordset(%(cancels)s::jsonb) AS c(owner text, key text))
      AND (SELECT taken FROM timer_turns) >= 0  -- every key's turn first
    ORDER BY owner, key
    FOR UPDATE
), cancelled_timers AS (
    DELETE FROM timers WHERE (owner, key) IN (SELECT owner, key FROM cancelling_timers)
)"""
