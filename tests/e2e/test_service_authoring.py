"""A service author's day: `sluice new`, the project's own tests and migrations, `sluice serve`
from the project's folder, and mistakes in the settings answered with one line each."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.e2e.test_cli import postgres_running_in
from tests.support.auth import AUTH_HEADERS
from tests.support.servers import SluiceProcess, free_port
from tests.support.waiting import eventually


def sluice(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        cwd=cwd,
        env={**without_sluice_settings(), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def without_sluice_settings() -> dict[str, str]:
    """This environment minus anything that would choose the service or the database."""
    return {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SLUICE_") and name != "DATABASE_URL"
    }


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project made by `sluice new piggy-bank`, once for the module."""
    where = tmp_path_factory.mktemp("projects")
    made = sluice("new", "piggy-bank", cwd=where)
    assert made.returncode == 0, made.stderr
    assert "cd piggy-bank" in made.stdout
    return where / "piggy-bank"


def test_a_new_project_has_its_own_first_migration(project: Path) -> None:
    revisions = list((project / "piggy_bank" / "migrations").glob("*.py"))
    assert len(revisions) == 1
    first = revisions[0].read_text()
    assert "branch_labels" in first and "'piggy-bank'" in first.replace('"', "'")
    assert "piggy_bank_balances" in first and "drop_table" not in first.split("def downgrade")[0]
    assert 'service = "piggy_bank:service"' in (project / "pyproject.toml").read_text()


def readme_commands(project: Path) -> tuple[str, str]:
    """The new project's two commands, as its README gives them: run it; test it."""
    block = (project / "README.md").read_text().split("```bash\n")[1].split("```")[0]
    run, test = (line for line in block.splitlines() if line and not line.startswith("#"))
    return run, test


@pytest.mark.timeout(900)
def test_a_new_project_s_own_two_commands_run_it_and_test_it(tmp_path: Path) -> None:
    """Exactly what its README says, in a fresh virtual environment of its own: install and
    serve (embedded PostgreSQL, the first key printed), then install the test extra and run
    its tests (Sluice's pytest plugin, a real PostgreSQL)."""
    assert sluice("new", "coin-jar", cwd=tmp_path).returncode == 0
    project = tmp_path / "coin-jar"
    run, test = readme_commands(project)
    assert run.endswith(".venv/bin/sluice serve") and test.endswith(".venv/bin/python -m pytest")
    port = free_port()
    env = {**without_sluice_settings(), "SLUICE_PORT": str(port)}
    log = (tmp_path / "serve.log").open("wb")
    serving = subprocess.Popen(
        ["bash", "-c", run],
        cwd=project,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        key = served_key(project, port, serving, tmp_path / "serve.log")
        headers = {"Authorization": f"Bearer {key}"}
        base = f"http://127.0.0.1:{port}"
        for command, body in (("open", {"owner": "Grace"}), ("deposit", {"amount": 10})):
            sent = httpx.post(f"{base}/entities/account/a1/{command}", json=body, headers=headers)
            assert sent.status_code == 200, sent.text
        event_id = sent.json()["events"][0]["event_id"]
        row = httpx.get(f"{base}/views/balances/a1?consistent_with={event_id}", headers=headers)
        assert row.json() == {"account_id": "a1", "owner": "Grace", "balance": 10}
        os.killpg(serving.pid, signal.SIGINT)
        assert serving.wait(60) == 0
    finally:
        if serving.poll() is None:
            os.killpg(serving.pid, signal.SIGKILL)
        log.close()
    assert postgres_stops(project / ".sluice"), "Ctrl-C must stop the embedded PostgreSQL"

    # Its pytest gets a temporary root of its own: one sharing ours would narrow the folder
    # our running servers' data sits in (see tests/support/own_database.server_home).
    env["PYTEST_DEBUG_TEMPROOT"] = str(tmp_path / "temproot")
    (tmp_path / "temproot").mkdir()
    tested = subprocess.run(
        ["bash", "-c", test], cwd=project, env=env, capture_output=True, text=True, timeout=600
    )
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-3000:]
    assert re.search(r"\b[1-9]\d* passed\b", tested.stdout) and "failed" not in tested.stdout


def postgres_stops(data_dir: Path, seconds: float = 30) -> bool:
    """Ctrl-C reaches the whole foreground group, PostgreSQL too: it may still be on its way
    out when `sluice serve` has exited."""
    deadline = time.monotonic() + seconds
    while postgres_running_in(data_dir):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def served_key(project: Path, port: int, serving: subprocess.Popen, log: Path) -> str:
    """Wait (through the install) until the service answers; its first admin key."""
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        assert serving.poll() is None, log.read_text(errors="replace")[-5000:]
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                return (project / ".sluice" / "admin.key").read_text().strip()
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"not serving in time:\n{log.read_text(errors='replace')[-5000:]}")


@pytest.mark.timeout(180)
def test_the_project_migrates_and_serves_from_its_own_folder(
    project: Path, empty_database_url: str
) -> None:
    migrated = sluice("migrate", cwd=project, DATABASE_URL=empty_database_url)
    assert migrated.returncode == 0, migrated.stderr
    assert "piggy-bank's with its own" in migrated.stdout
    with psycopg.connect(empty_database_url) as conn:
        heads = {row[0] for row in conn.execute("SELECT version_num FROM alembic_version")}
        tables = {
            row[0]
            for row in conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        }
    assert len(heads) == 2  # Sluice's head and the service's
    assert {"events", "piggy_bank_balances"} <= tables

    server = SluiceProcess(
        {**without_sluice_settings(), "DATABASE_URL": empty_database_url}, project
    )
    try:
        server.wait_ready()
        assert "creating its table" not in server.log()  # its migration made it
        post = httpx.post(
            f"{server.url}/entities/account/a1/open",
            json={"owner": "Ann"},
            headers=AUTH_HEADERS,
            timeout=10,
        )
        assert post.status_code == 200, post.text
        event_id = post.json()["events"][0]["event_id"]
        row = httpx.get(
            f"{server.url}/views/balances/a1?consistent_with={event_id}",
            headers=AUTH_HEADERS,
            timeout=10,
        )
        assert row.status_code == 200 and row.json()["owner"] == "Ann"
    finally:
        server.close()


def test_a_database_another_service_migrated_is_refused_in_one_line(
    project: Path, database_url: str
) -> None:
    """The test database carries the ward's history: piggy-bank must not run on it."""
    refused = sluice("migrate", cwd=project, DATABASE_URL=database_url)
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert lines[-1].startswith(
        "sluice: the database holds migrations that neither Sluice nor service piggy-bank knows"
    ), refused.stderr
    assert "Each service needs a database of its own." in lines[-1]


def test_sluice_new_refuses_a_bad_name_or_a_folder_in_use(tmp_path: Path) -> None:
    bad = sluice("new", "Piggy Bank", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.strip() == (
        "sluice: 'Piggy Bank' cannot name a service: a lowercase letter, then letters, digits or -"
    )
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    taken = sluice("new", "taken", cwd=tmp_path)
    assert taken.returncode == 2 and "exists and is not empty" in taken.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]


@pytest.mark.parametrize(
    ("env", "line"),
    [
        (
            {"SLUICE_SERVICE": "shop:service"},
            "sluice: SLUICE_SERVICE=shop:service: no module 'shop' in ",
        ),
        ({"SLUICE_SERVICE": "shop"}, "sluice: SLUICE_SERVICE='shop': expected 'module:attribute'"),
        (
            {"DATABASE_URL": "mysql://root@localhost/shop"},
            "sluice: DATABASE_URL: must be a PostgreSQL URL (postgresql://user@host:5432/db),"
            " not mysql scheme",
        ),
        (
            {"SLUICE_RELAY_POLL_SECONDS": "soon"},
            "sluice: SLUICE_RELAY_POLL_SECONDS: Input should be a valid number",
        ),
    ],
    ids=["service-module-missing", "service-not-module-colon-name", "not-postgres", "not-a-number"],
)
def test_a_setting_out_of_its_rules_is_one_line_naming_it(
    tmp_path: Path, env: dict[str, str], line: str
) -> None:
    result = sluice("migrate", cwd=tmp_path, SLUICE_DATA_DIR=str(tmp_path / "data"), **env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(line), lines[0]
    assert not (tmp_path / "data" / "pg").exists()  # refused before starting anything


@pytest.mark.timeout(180)
def test_sigterm_stops_the_embedded_postgres_even_after_a_kill_9(tmp_path: Path) -> None:
    """An orchestrator's SIGTERM ends `sluice serve` normally, and with it the embedded server.
    A process killed outright leaves its pid in the server's list of users; the next start
    forgets it, or that dead pid would keep the server up for good."""
    data_dir = tmp_path / "data"
    env = {**without_sluice_settings(), "SLUICE_DATA_DIR": str(data_dir)}
    killed = SluiceProcess(env, tmp_path)
    try:
        killed.wait_ready()
        killed.kill()
    finally:
        killed.close()
    assert postgres_running_in(data_dir)  # nobody stopped it

    stopped = SluiceProcess(env, tmp_path)
    try:
        stopped.wait_ready()
        assert "forgot processes that are gone" in stopped.log()
        stopped.terminate()
        assert stopped.process.wait(30) == 0, stopped.log()
    finally:
        stopped.close()
    assert not postgres_running_in(data_dir), "SIGTERM must stop the embedded PostgreSQL"


async def test_without_any_api_key_the_log_says_how_to_make_one(
    database_url: str, tmp_path: Path
) -> None:
    env = {**without_sluice_settings(), "DATABASE_URL": database_url, "SLUICE_ADMIN_KEY": ""}
    server = SluiceProcess(env, tmp_path)
    try:
        server.wait_ready()
        await eventually(lambda: "no API key exists" in server.log(), 10, "the warning")
        assert "sluice keys create --name admin --scopes admin" in server.log()
        async with httpx.AsyncClient(headers=AUTH_HEADERS, timeout=10) as http:
            refused = await http.get(f"{server.url}/events")
        assert refused.status_code == 401
    finally:
        server.close()


@pytest.mark.timeout(180)
async def test_serve_reload_picks_up_an_edit(
    project: Path, empty_database_url: str, tmp_path: Path
) -> None:
    """`sluice serve --reload` while writing the service: an edit is served without a restart
    by hand (the embedded database, if any, stays up in the parent process)."""
    copy = tmp_path / "piggy-bank"
    shutil.copytree(project, copy)
    env = {**without_sluice_settings(), "DATABASE_URL": empty_database_url}
    server = SluiceProcess(env, copy, None, "--reload")
    try:
        server.wait_ready()
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:

            async def described() -> str:
                try:
                    return str((await http.get("/openapi.json")).json()["info"]["description"])
                except (httpx.TransportError, ValueError):
                    return ""  # between two children

            assert await described() == "Piggy bank."
            init = copy / "piggy_bank" / "__init__.py"
            init.write_text(init.read_text().replace('"Piggy bank."', '"Piggy bank, edited."'))
            await eventually(
                lambda: described_as(described, "Piggy bank, edited."), 60, "the edit served"
            )
        assert server.interrupt() == 0, server.log()
    finally:
        server.close()


async def described_as(described: Callable[[], Awaitable[str]], text: str) -> bool:
    return await described() == text


def test_logs_are_text_at_a_terminal_and_json_otherwise(
    empty_database_url: str, tmp_path: Path
) -> None:
    env = {**without_sluice_settings(), "DATABASE_URL": empty_database_url}
    command = [sys.executable, "-m", "app", "migrate"]
    controller, terminal = pty.openpty()
    try:
        at_terminal = subprocess.run(
            command, env=env, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=terminal, timeout=60
        )
        os.close(terminal)
        seen = read_all(controller)
    finally:
        os.close(controller)
    assert at_terminal.returncode == 0, seen
    lines = [line for line in seen.splitlines() if "Running upgrade" in line]
    assert lines and not any(line.lstrip().startswith("{") for line in lines), seen

    piped = sluice("migrate", cwd=tmp_path, DATABASE_URL=empty_database_url)
    assert piped.returncode == 0
    logged = [line for line in piped.stderr.splitlines() if line.strip()]
    assert logged and all(json.loads(line)["level"] for line in logged)


def read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal's other end closed: all read
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")


@pytest.mark.timeout(180)
def test_a_changed_view_table_gets_its_next_revision_from_the_command_line(
    project: Path, empty_database_url: str, tmp_path: Path
) -> None:
    copy = tmp_path / "piggy-bank"
    shutil.copytree(project, copy, ignore=shutil.ignore_patterns(".venv", ".sluice"))
    views = copy / "piggy_bank" / "views.py"
    views.write_text(
        views.read_text().replace(
            "    balance: int = Field(sa_column=Column(Integer, nullable=False))\n",
            "    balance: int = Field(sa_column=Column(Integer, nullable=False))\n"
            "    deposits: int | None = Field(default=None, sa_column=Column(Integer))\n",
        )
    )
    made = sluice("migrations", "new", "count deposits", cwd=copy, DATABASE_URL=empty_database_url)
    assert made.returncode == 0, made.stderr
    revisions = sorted((copy / "piggy_bank" / "migrations").glob("*count_deposits.py"))
    assert len(revisions) == 1 and str(revisions[0]) in made.stdout
    text = revisions[0].read_text().replace('"', "'")
    assert "op.add_column('piggy_bank_balances'" in text, text
    assert "drop_table" not in text and "create_table" not in text
    assert sluice("migrate", cwd=copy, DATABASE_URL=empty_database_url).returncode == 0
    with psycopg.connect(empty_database_url) as conn:
        columns = {
            row[0]
            for row in conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_name = 'piggy_bank_balances'"
            )
        }
    assert "deposits" in columns


def test_migrations_new_for_a_service_keeping_none_says_how_in_one_line(tmp_path: Path) -> None:
    refused = sluice(
        "migrations",
        "new",
        "x",
        cwd=tmp_path,
        SLUICE_SERVICE="tests.support.bank:service",
        PYTHONPATH=str(Path(__file__).resolve().parents[2]),
    )
    assert refused.returncode == 2
    assert refused.stderr.strip() == (
        "sluice: service bank keeps no migrations: declare their folder,"
        " Service(..., migrations=Path(__file__).parent / 'migrations')"
    )
