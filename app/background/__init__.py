"""Background work on PostgreSQL: the one worker loop, the LISTEN connection, leadership."""
