"""`sluice serve` as a user runs it: embedded PostgreSQL, Ctrl-C, restart, same data."""

from __future__ import annotations

import asyncio
import json
import os
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from tests.support.auth import AUTH_HEADERS
from tests.support.servers import SluiceProcess, postgres_running_in
from tests.support.ward import ADMIT


@pytest.mark.timeout(180)
def test_serve_with_embedded_postgres_survives_a_restart(tmp_path: Path) -> None:
    """The first start also creates an admin key (no key was configured): printed once, kept
    in the data folder for its owner only, and still the key after a restart."""
    data_dir = tmp_path / "data"
    env = {"SLUICE_DATA_DIR": str(data_dir), "SLUICE_ADMIN_KEY": ""}
    env.pop("DATABASE_URL", None)
    os.environ.pop("DATABASE_URL", None)

    first = SluiceProcess(env, tmp_path)
    try:
        first.wait_ready()
        key_file = data_dir / "admin.key"
        key = key_file.read_text().strip()
        assert key.startswith("sk_") and key in first.log()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        headers = {"Authorization": f"Bearer {key}"}
        refused = httpx.post(f"{first.url}/entities/patient/p1/admit", json=ADMIT, timeout=10)
        assert refused.status_code == 401
        admitted = httpx.post(
            f"{first.url}/entities/patient/p1/admit", json=ADMIT, timeout=10, headers=headers
        )
        assert admitted.status_code == 200
        assert first.interrupt() == 0, first.log()
    finally:
        first.close()
    assert not postgres_running_in(data_dir), "Ctrl-C must stop the embedded PostgreSQL"

    second = SluiceProcess(env, tmp_path)
    try:
        second.wait_ready()
        assert "created an admin API key" not in second.log(), "only the first start makes one"
        assert key_file.read_text().strip() == key
        state = httpx.get(f"{second.url}/entities/patient/p1", timeout=10, headers=headers)
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


def sluice(*args: str, database_url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env={**os.environ, "DATABASE_URL": database_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.timeout(120)
def test_keys_are_created_listed_and_revoked_from_the_command_line(
    database_url: str, tmp_path: Path
) -> None:
    created = sluice(
        "keys", "create", "--name", "pager", "--scopes", "events:read", database_url=database_url
    )
    assert created.returncode == 0, created.stderr
    key = created.stdout.strip()
    assert key.startswith("sk_") and "shown once" in created.stderr
    found = re.search(r"created key (\S+)", created.stderr)
    assert found is not None, created.stderr
    key_id = found.group(1)

    listed = sluice("keys", "list", database_url=database_url)
    assert "pager" in listed.stdout and key_id in listed.stdout and key not in listed.stdout

    server = SluiceProcess({"DATABASE_URL": database_url}, tmp_path)
    try:
        server.wait_ready()
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{server.url}/events", headers=headers).status_code == 200
        assert httpx.get(f"{server.url}/views", headers=headers).status_code == 403
        revoked = sluice("keys", "revoke", key_id, database_url=database_url)
        assert revoked.returncode == 0, revoked.stderr
        # the running server hears of it (NOTIFY) and refuses the key straight away
        deadline = time.monotonic() + 5
        while httpx.get(f"{server.url}/events", headers=headers).status_code != 401:
            assert time.monotonic() < deadline, "the revoked key still works"
            time.sleep(0.05)
    finally:
        server.close()
    assert "pager" not in sluice("keys", "list", database_url=database_url).stdout
    bad = sluice("keys", "create", "--name", "x", "--scopes", "root", database_url=database_url)
    assert bad.returncode == 2 and "unknown scope" in bad.stderr


@pytest.mark.timeout(120)
async def test_a_websocket_message_over_the_limit_closes_the_connection(
    database_url: str, tmp_path: Path
) -> None:
    env = {"DATABASE_URL": database_url, "SLUICE_WS_MAX_MESSAGE_BYTES": "2048"}
    server = SluiceProcess(env, tmp_path)
    try:
        await asyncio.to_thread(server.wait_ready)
        url = server.url.replace("http://", "ws://") + "/ws/events"
        async with websockets.connect(url, additional_headers=AUTH_HEADERS) as socket:
            await socket.send(json.dumps({"types": ["x" * 4000]}))
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(socket.recv(), 10)
            assert socket.close_code == 1009  # message too big
    finally:
        server.close()
