"""Advisory locks, as every package spells them: one statement per form.

Locks in the (int4, int4) form are named by a namespace and ``hashtext(name)`` (consumers,
view rebuilds, the journal's entity turns use their own namespaces); the bigint form is for
the few single locks (the sequencer). The two forms never collide.
"""

TRY_NAMED_LOCK = "SELECT pg_try_advisory_lock(%s, hashtext(%s))"
UNLOCK_NAMED = "SELECT pg_advisory_unlock(%s, hashtext(%s))"
TRY_LOCK = "SELECT pg_try_advisory_lock(%s)"
