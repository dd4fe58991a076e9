"""Roles and --workers: the command side and the consumer side run, and scale, apart.

Real `sluice serve` processes on one PostgreSQL: api processes that append and serve
WebSockets, a workers process that numbers the log and runs every consumer, and one
`sluice serve --workers 2` whose children share its port.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import psycopg
import pytest
import websockets

from tests.support.auth import AUTH_HEADERS
from tests.support.relay import assert_log_is_gapless
from tests.support.servers import SluiceProcess, postgres_running_in
from tests.support.waiting import eventually
from tests.support.ward import ADMIT, vitals

ENV = {"SLUICE_LEADER_RETRY_SECONDS": "0.5", "SLUICE_RELAY_POLL_SECONDS": "0.2"}


def serve(database_url: str, tmp_path: Path, *options: str) -> SluiceProcess:
    process = SluiceProcess({"DATABASE_URL": database_url, **ENV}, tmp_path, None, *options)
    process.wait_ready()
    return process


def ws_url(process: SluiceProcess) -> str:
    return process.url.replace("http://", "ws://") + "/ws/events?after=0"


def children_of(pid: int) -> list[int]:
    """The serving children of a `sluice serve --workers N` (not multiprocessing's helper)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            command = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue  # gone meanwhile
        if ppid == pid and b"spawn_main" in command:
            found.append(int(entry.name))
    return sorted(found)


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def count(database_url: str, query: str) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(query).fetchone()
    assert row is not None
    return int(row[0])


async def receive_seqs(client: websockets.ClientConnection, total: int) -> list[int]:
    seqs: list[int] = []
    async with asyncio.timeout(60):
        while len(seqs) < total:
            seqs.append(json.loads(await client.recv())["seq"])
    return seqs


def leader_pids(base: str) -> dict[str, int]:
    """Each local consumer's leading process (``host:pid:tag``), from GET /consumers."""
    consumers = httpx.get(f"{base}/consumers", headers=AUTH_HEADERS, timeout=10).json()
    return {
        consumer["name"]: int(consumer["leader"].split(":")[1])
        for consumer in consumers
        if consumer["leader"] and "@" not in consumer["name"]
    }


@pytest.mark.timeout(240)
async def test_api_processes_append_and_only_a_workers_process_numbers_and_consumes(
    database_url: str, tmp_path: Path
) -> None:
    api_one = serve(database_url, tmp_path, "--role", "api")
    api_two = serve(database_url, tmp_path, "--role", "api")
    workers: SluiceProcess | None = None
    try:
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as http:
            ready = (await http.get(f"{api_one.url}/readyz")).json()
            assert ready == {"status": "ready", "role": "api", "sequencer": "elsewhere"}
            for index in range(10):
                target = (api_one, api_two)[index % 2].url
                admitted = await http.post(f"{target}/entities/patient/p{index}/admit", json=ADMIT)
                assert admitted.status_code == 200, admitted.text
            # No workers process yet: the commands are in the journal, but nothing numbers
            # them, and no consumer has run (several poll intervals pass first).
            await asyncio.sleep(1.5)
            assert count(database_url, "SELECT count(*) FROM events") == 10
            assert count(database_url, "SELECT count(*) FROM events WHERE seq IS NOT NULL") == 0
            assert count(database_url, "SELECT count(*) FROM checkpoints") == 0

            workers = serve(database_url, tmp_path, "--role", "workers")
            ready = (await http.get(f"{workers.url}/readyz")).json()
            assert ready["role"] == "workers"
            clients = [
                await websockets.connect(ws_url(process), additional_headers=AUTH_HEADERS)
                for process in (api_one, api_two, api_one)
            ]

            async def send(patient: int) -> None:
                for n in range(20):
                    target = (api_one, api_two)[(patient + n) % 2].url
                    response = await http.post(
                        f"{target}/entities/patient/p{patient}/record-vitals",
                        json=vitals(pulse=60 + n),
                    )
                    assert response.status_code == 200, response.text

            await asyncio.gather(*(send(patient) for patient in range(10)))
            total = 10 + 10 * 20
            for client in clients:
                assert await receive_seqs(client, total) == list(range(1, total + 1))
                await client.close()

            # A workers process answers no command, and the store is unchanged by the refusal.
            refused = await http.post(
                f"{workers.url}/entities/patient/p1/record-vitals", json=vitals()
            )
            assert refused.status_code == 404
            assert refused.headers["content-type"] == "application/problem+json"
            assert refused.json()["type"].endswith("not-served-here")
            assert "SLUICE_ROLE=workers" in refused.json()["detail"]
            assert count(database_url, "SELECT count(*) FROM events") == total

            # Every consumer is led by the workers process, none by an api process; the view
            # it keeps answers on an api process.
            async def led_by_workers() -> dict[str, int] | None:
                leaders = leader_pids(api_one.url)
                return leaders if len(leaders) >= 4 else None

            leaders = await eventually(led_by_workers, 30, "every consumer led")
            assert set(leaders.values()) == {workers.process.pid}, leaders
            # Read-your-writes across processes: a command through one api process, the
            # view read through the other, waiting for the workers process to apply it.
            recorded = await http.post(
                f"{api_one.url}/entities/patient/p3/record-vitals", json=vitals(pulse=88)
            )
            event_id = recorded.json()["events"][0]["event_id"]
            board = await http.get(
                f"{api_two.url}/views/ward-board/p3", params={"consistent_with": event_id}
            )
            assert board.status_code == 200, board.text
            assert board.json()["latest_vitals"]["pulse"] == 88
        with psycopg.connect(database_url) as conn:
            assert_log_is_gapless(conn, total + 1)
    finally:
        for process in (api_one, api_two, workers):
            if process is not None:
                process.close()


@pytest.mark.timeout(240)
async def test_workers_2_share_one_port_keep_one_leader_and_stop_together(
    database_url: str, tmp_path: Path
) -> None:
    group = serve(database_url, tmp_path, "--workers", "2")
    try:
        children = children_of(group.process.pid)
        assert len(children) == 2, group.log()
        clients = [
            await websockets.connect(ws_url(group), additional_headers=AUTH_HEADERS)
            for _ in range(6)
        ]
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as http:
            for index in range(20):
                response = await http.post(
                    f"{group.url}/entities/patient/p{index}/admit", json=ADMIT
                )
                assert response.status_code == 200, response.text

            async def send(patient: int) -> None:
                # A connection of its own per sender, so the kernel spreads them over both.
                async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as own:
                    for n in range(24):
                        response = await own.post(
                            f"{group.url}/entities/patient/p{patient}/record-vitals",
                            json=vitals(pulse=60 + n),
                            headers={"Idempotency-Key": f"p{patient}-{n}"},
                        )
                        assert response.status_code == 200, response.text

            await asyncio.gather(*(send(patient) for patient in range(20)))
        total = 20 + 20 * 24
        for client in clients:
            assert await receive_seqs(client, total) == list(range(1, total + 1))
            await client.close()
        with psycopg.connect(database_url) as conn:
            assert_log_is_gapless(conn, total)
        # Every consumer has one leader, and it is a child, not the parent.
        leaders = leader_pids(group.url)
        assert leaders and set(leaders.values()) <= set(children), (leaders, children)

        group.terminate()
        assert group.process.wait(60) == 0, group.log()
        for pid in children:
            await eventually(lambda pid=pid: not alive(pid), 10, f"child {pid} gone")
    finally:
        group.close()


@pytest.mark.timeout(180)
async def test_a_child_that_dies_is_replaced_and_an_orphaned_child_stops(
    database_url: str, tmp_path: Path
) -> None:
    group = serve(database_url, tmp_path, "--workers", "2")
    try:
        first, second = children_of(group.process.pid)
        os.kill(first, signal.SIGKILL)  # serving yet or not: a killed child is replaced

        async def replaced() -> list[int] | None:
            now = children_of(group.process.pid)
            return now if len(now) == 2 and first not in now else None

        now = await eventually(replaced, 30, "the killed child replaced")
        assert second in now
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as http:
            for _ in range(4):  # both children answer (the kernel picks one per connection)
                async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=30) as own:
                    response = await own.post(f"{group.url}/entities/patient/p1/admit", json=ADMIT)
                    assert response.status_code in (200, 409), response.text
            assert (await http.get(f"{group.url}/entities/patient/p1")).status_code == 200

        # kill -9 of the parent: no SIGTERM will come from it; each child stops by itself.
        group.kill()
        for pid in now:
            await eventually(lambda pid=pid: not alive(pid), 30, f"orphan {pid} stopped")
    finally:
        group.close()


def test_workers_and_roles_out_of_their_rules_are_refused_by_name(database_url: str) -> None:
    def sluice(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "app", *args],
            env={**os.environ, "DATABASE_URL": database_url, **env},
            capture_output=True,
            text=True,
            timeout=60,
        )

    zero = sluice("serve", "--workers", "0")
    assert zero.returncode == 2 and "SLUICE_WORKERS" in zero.stderr, zero.stderr
    role = sluice("serve", SLUICE_ROLE="consumers")
    assert role.returncode == 2 and "SLUICE_ROLE" in role.stderr, role.stderr
    reload = sluice("serve", "--reload", "--workers", "2")
    assert reload.returncode == 2 and "--reload" in reload.stderr, reload.stderr


@pytest.mark.timeout(180)
def test_workers_2_on_the_embedded_database_make_one_first_key_and_stop_it_last(
    tmp_path: Path,
) -> None:
    """The quick start with --workers: one first-start key (not one per child), and Ctrl-C
    stops the children, then the embedded PostgreSQL."""
    data_dir = tmp_path / "data"
    env = {"SLUICE_DATA_DIR": str(data_dir), "SLUICE_ADMIN_KEY": "", "DATABASE_URL": ""}
    group = SluiceProcess(env, tmp_path, None, "--workers", "2")
    try:
        group.wait_ready()
        children = children_of(group.process.pid)
        assert len(children) == 2
        key = (data_dir / "admin.key").read_text().strip()
        # The whole log (log() is its tail, for failure messages): every migration's line
        # comes after this one.
        assert group.log_path.read_text().count("created an admin API key") == 1
        for _ in range(4):  # whichever child answers, the key is known
            admitted = httpx.post(
                f"{group.url}/entities/patient/p1/record-vitals",
                json=vitals(),
                headers={"Authorization": f"Bearer {key}"},
                timeout=10,
            )
            assert admitted.status_code in (200, 409), admitted.text
        assert group.interrupt() == 0, group.log()
        assert not any(alive(pid) for pid in children)
    finally:
        group.close()
    assert not postgres_running_in(data_dir), "Ctrl-C must stop the embedded PostgreSQL"


@pytest.mark.timeout(120)
def test_a_child_that_fails_before_serving_stops_the_group_with_an_error(
    database_url: str, tmp_path: Path
) -> None:
    """Broken the same way at every start: not restarted forever."""
    (tmp_path / "children_fail.py").write_text(
        "import multiprocessing\n"
        "from app.services.ward import service\n"
        "if multiprocessing.parent_process() is not None:\n"
        "    raise RuntimeError('this service cannot start in a child')\n"
    )
    env = {"DATABASE_URL": database_url, "SLUICE_SERVICE": "children_fail:service", **ENV}
    group = SluiceProcess(env, tmp_path, None, "--workers", "2")
    try:
        assert group.process.wait(90) == 1, group.log()
        assert "before it started serving" in group.log()
        assert children_of(group.process.pid) == []
    finally:
        group.close()


@pytest.mark.timeout(120)
def test_pools_the_server_cannot_take_are_named_at_start(database_url: str, tmp_path: Path) -> None:
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT current_setting('max_connections')::int").fetchone()
    assert row is not None
    too_big = str(row[0])  # one process's pool alone could take every connection
    env = {"DATABASE_URL": database_url, "SLUICE_POOL_MAX_SIZE": too_big, **ENV}
    group = SluiceProcess(env, tmp_path, None, "--workers", "2")
    try:
        group.wait_ready()
        log = group.log()
        assert "2 processes may open up to" in log and "SLUICE_POOL_MAX_SIZE" in log, log
        group.terminate()
        assert group.process.wait(60) == 0
    finally:
        group.close()
