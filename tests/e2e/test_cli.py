"""`sluice serve` as a user runs it: embedded PostgreSQL, Ctrl-C, restart, same data."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import psutil
import pytest

from tests.support.servers import SluiceProcess
from tests.support.ward import ADMIT


def postgres_running_in(data_dir: Path) -> bool:
    for process in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if process.info["name"] == "postgres" and str(data_dir) in cmdline:
            return True
    return False


@pytest.mark.timeout(180)
def test_serve_with_embedded_postgres_survives_a_restart(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"SLUICE_DATA_DIR": str(data_dir)}
    env.pop("DATABASE_URL", None)
    os.environ.pop("DATABASE_URL", None)

    first = SluiceProcess(env, tmp_path)
    try:
        first.wait_ready()
        admitted = httpx.post(f"{first.url}/entities/patient/p1/admit", json=ADMIT, timeout=10)
        assert admitted.status_code == 200
        assert first.interrupt() == 0, first.log()
    finally:
        first.close()
    assert not postgres_running_in(data_dir), "Ctrl-C must stop the embedded PostgreSQL"

    second = SluiceProcess(env, tmp_path)
    try:
        second.wait_ready()
        state = httpx.get(f"{second.url}/entities/patient/p1", timeout=10)
        assert state.status_code == 200
        assert state.json()["state"]["name"] == ADMIT["name"]
        assert second.interrupt() == 0
    finally:
        second.close()


def test_migrate_command_upgrades_the_named_database(empty_database_url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env={**os.environ, "DATABASE_URL": empty_database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "latest schema" in result.stdout


def test_without_embedded_server_database_url_is_required(tmp_path: Path) -> None:
    """What the container image runs: SLUICE_EMBEDDED=false and no DATABASE_URL must refuse."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env.update({"SLUICE_EMBEDDED": "false", "SLUICE_DATA_DIR": str(tmp_path)})
    result = subprocess.run(
        [sys.executable, "-m", "app", "migrate"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().splitlines()[-1] == (
        "sluice: DATABASE_URL is required (SLUICE_EMBEDDED=false: no embedded server)"
    )
    assert not (tmp_path / "pg").exists()
