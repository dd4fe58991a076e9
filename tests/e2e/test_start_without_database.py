"""`sluice serve` started before its PostgreSQL: it waits, saying so once per attempt, and
comes up by itself when the server does; past its deadline, or told "no" by a server that
answers, it exits with one clear line instead of a traceback."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from app.db.urls import with_database
from tests.support.own_database import OwnDatabase
from tests.support.servers import SluiceProcess

pytestmark = pytest.mark.timeout(120)


def wait_for_line(sluice: SluiceProcess, text: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while text not in sluice.log_path.read_text(errors="replace"):
        assert sluice.process.poll() is None, sluice.log()
        assert time.monotonic() < deadline, sluice.log()
        time.sleep(0.05)


def test_serve_waits_for_the_database_and_comes_up_when_it_does(
    own_database: OwnDatabase, tmp_path: Path
) -> None:
    own_database.stop()
    sluice = SluiceProcess({"DATABASE_URL": own_database.url}, tmp_path)
    try:
        wait_for_line(sluice, "database unreachable")
        wait_for_line(sluice, "attempt 2")
        own_database.start()
        sluice.wait_ready(timeout=60)
        assert httpx.get(f"{sluice.url}/readyz").status_code == 200
    finally:
        sluice.close()
    assert "Traceback" not in sluice.log_path.read_text()


def test_serve_gives_up_after_its_deadline_with_one_clear_line(
    own_database: OwnDatabase, tmp_path: Path
) -> None:
    own_database.stop()
    sluice = SluiceProcess(
        {"DATABASE_URL": own_database.url, "SLUICE_DB_WAIT_SECONDS": "2"}, tmp_path
    )
    try:
        assert sluice.process.wait(30) == 2
    finally:
        sluice.close()
    log = sluice.log_path.read_text()
    assert "Traceback" not in log
    assert "sluice: the database is still unreachable after 2 s" in log


def test_a_server_that_refuses_ends_the_wait_at_once(
    own_database: OwnDatabase, tmp_path: Path
) -> None:
    missing = with_database(own_database.url, "no_such_database")
    sluice = SluiceProcess({"DATABASE_URL": missing, "SLUICE_DB_WAIT_SECONDS": "60"}, tmp_path)
    started = time.monotonic()
    try:
        assert sluice.process.wait(30) == 2
    finally:
        sluice.close()
    assert time.monotonic() - started < 20
    log = sluice.log_path.read_text()
    assert "Traceback" not in log
    assert "the database refused the connection" in log and "no_such_database" in log
