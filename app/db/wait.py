"""Waiting for the database at start: a fleet restarting together with its PostgreSQL comes
up by itself, instead of every process exiting with a traceback while the server boots.

Only an unreachable server is waited for; a server that answers and refuses (a wrong password,
a database that does not exist) will not change its mind, so that ends the wait at once with
the server's own words.
"""

from __future__ import annotations

import logging
import time

import psycopg

from app.config import ConfigurationError
from app.db.urls import libpq_url

log = logging.getLogger("sluice.db")

FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 5.0
# What libpq says when nobody answers (as opposed to a server that answers "no").
UNREACHABLE = (
    "connection refused",
    "no such file or directory",
    "could not connect",
    "timeout expired",
    "the database system is starting up",
    "the database system is shutting down",
    "the database system is in recovery mode",
    "server closed the connection unexpectedly",
    "could not translate host name",
    "network is unreachable",
    "no route to host",
)


def wait_for_database(url: str, *, within: float) -> None:
    """Return once a connection succeeds; after ``within`` seconds of trying, or on a
    refusal that retrying cannot cure, raise ConfigurationError with one clear line."""
    deadline = time.monotonic() + within
    delay = FIRST_DELAY_SECONDS
    attempt = 0
    while True:
        attempt += 1
        try:
            with psycopg.connect(libpq_url(url), connect_timeout=max(1, round(delay * 2))):
                if attempt > 1:
                    log.info("database reachable after %d attempts", attempt)
                return
        except (psycopg.ProgrammingError, ValueError) as error:  # libpq cannot read the URL
            raise ConfigurationError(f"DATABASE_URL cannot be used: {_first_line(error)}") from None
        except psycopg.OperationalError as error:
            reason = _first_line(error)
            if not _unreachable(reason):
                raise ConfigurationError(f"the database refused the connection: {reason}") from None
            left = deadline - time.monotonic()
            if left <= 0:
                raise ConfigurationError(
                    f"the database is still unreachable after {within:g} s ({reason});"
                    " SLUICE_DB_WAIT_SECONDS sets how long to wait"
                ) from None
            pause = min(delay, left)
            log.warning(
                "database unreachable (%s); attempt %d, retrying in %.1f s (giving up in %.0f s)",
                reason,
                attempt,
                pause,
                left,
            )
            time.sleep(pause)
            delay = min(delay * 2, MAX_DELAY_SECONDS)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    # libpq prefixes "connection failed: connection to server at ... failed:"; keep the why
    return lines[0][:300] if lines else type(error).__name__


def _unreachable(reason: str) -> bool:
    lowered = reason.lower()
    return any(marker in lowered for marker in UNREACHABLE)
