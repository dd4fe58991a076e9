"""The relay's SQL: turning committed outbox rows into the public, gapless ``seq``.

Why this is gapless and never goes backwards: only the leader runs SEQUENCE_BATCH (it holds
the advisory lock SEQUENCER_LOCK on the very connection that runs it, so losing the lock means
losing the transaction too). Each run reads the current head (max seq) and numbers the taken
rows head+1, head+2, … in outbox id order, inside one statement: it either commits whole or
not at all, and a crash in the middle leaves the outbox rows in place for the next leader.

Why commit order: a transaction's outbox rows are invisible until it commits, so a row whose
transaction commits late is simply taken by a later run with a larger seq; a reader using seq
as its cursor can never skip it. Per-entity order holds because version n+1 can only be
inserted after version n committed, so its outbox row has a larger id.
"""

LOG_CHANNEL = "sluice_log"  # the sequencer notifies the new head (and small batches' rows)
CHECKPOINT_CHANNEL = "sluice_checkpoints"  # a consumer moved: payload "name:position"
CONTROL_CHANNEL = "sluice_consumers"  # an operator paused, resumed or skipped: payload name

# A bigint advisory lock: that form never collides with the (int4, int4) locks of the
# journal's entity turns, the consumers and the view rebuilds (app/db/locks.py).
SEQUENCER_LOCK = 0x51CE_0000_0002

# The log's head: the last seq handed out (0 for an empty log). Every reader of the head
# uses this one expression; the unique index on seq answers it from its end.
HEAD_SEQ = "(SELECT COALESCE(max(seq), 0) FROM events)"
HEAD = f"SELECT {HEAD_SEQ}"

# The sequencer joins a batch of outbox rows to ``events`` by primary key. Left to itself the
# planner hash-joins against a scan of all of ``events`` (measured: from ~100k rows on), so
# every batch would get slower as the log grows. Its connection runs nothing else, so its
# session is told to probe the primary key instead.
SESSION_SETUP = "SET enable_hashjoin = off; SET enable_mergejoin = off"

# The NOTIFY carries the new head and, when the batch is small enough to fit a notification
# (PostgreSQL refuses payloads of 8000 bytes or more), the sequenced rows themselves: each
# process's log hub then serves its WebSocket clients straight from the notification instead
# of reading the rows back, a round trip (and the reader's time) off every event's path.
# A bigger batch, under heavy load, notifies the head alone and readers query as before.
# So does every batch while PostgreSQL's notification queue is fuller than the sequencer's
# limit (1%):
# a listener that stops reading (a frozen process) holds the queue back for everyone, and at
# full size (8 GB) every NOTIFY, the sequencer's included, fails. The rows fill it ~400x
# faster than a bare head; the guard leaves that case where it was without them.
LOG_PAYLOAD_MAX_BYTES = 7900
LOG_PAYLOAD_MAX_EVENTS = 32  # past this the rows rarely fit: do not build JSON to discard it
# An event as the log hands it out, in this order: every read of the log selects these
# columns, and each notified row is a JSON array of them (app/relay/log.py reads both).
LOGGED_COLUMNS = (
    "seq",
    "event_id",
    "entity_type",
    "entity_id",
    "version",
    "type",
    "schema_version",
    "data",
    "metadata",
    "recorded_at",
)

SEQUENCE_BATCH = f"""
WITH head AS (
    SELECT {HEAD_SEQ} AS seq
), taken AS (
    DELETE FROM outbox
    WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT %(limit)s)
    RETURNING id, event_row_id
), numbered AS (
    SELECT event_row_id, (SELECT seq FROM head) + row_number() OVER (ORDER BY id) AS seq
    FROM taken
), sequenced AS (
    UPDATE events SET seq = numbered.seq
    FROM numbered
    WHERE events.id = numbered.event_row_id
    RETURNING {", ".join(f"events.{column}" for column in LOGGED_COLUMNS)}
), batch AS (
    SELECT count(*) AS taken, max(seq) AS head FROM sequenced
), tail AS (
    SELECT json_agg(json_build_array({", ".join(LOGGED_COLUMNS)}) ORDER BY seq)::text AS rows
    FROM sequenced
    WHERE (SELECT taken FROM batch) <= {LOG_PAYLOAD_MAX_EVENTS}
)
SELECT taken, head, pg_notify('{LOG_CHANNEL}', CASE
    WHEN octet_length(tail.rows) <= {LOG_PAYLOAD_MAX_BYTES}
         AND pg_notification_queue_usage() < %(queue_limit)s
    THEN head || ' ' || tail.rows
    ELSE head::text END)
FROM batch, tail
WHERE taken > 0
"""


# What the sequencer has yet to number, for metrics: how many rows, and how long the oldest has
# waited (its event's recorded_at; the outbox row itself keeps no time).
OUTBOX_BACKLOG = """
SELECT (SELECT count(*) FROM outbox),
       COALESCE(EXTRACT(EPOCH FROM now() - (
           SELECT e.recorded_at FROM outbox o JOIN events e ON e.id = o.event_row_id
           ORDER BY o.id LIMIT 1)), 0)
"""
