"""`sluice up`: the whole system from one command, as the README's quick start runs it. Two
services, each with its own embedded PostgreSQL and port, wired with keys made for them; a
deteriorating patient reaches outreach and its acceptance comes back to the ward; Ctrl-C stops
everything, the databases included; the next `sluice up` finds the same data and keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_cli import postgres_running_in
from tests.support.servers import free_port
from tests.support.ward import ADMIT, DETERIORATING

RUNNING = "sluice up: the system is running"


def system_file(folder: Path, ward: int, outreach: int) -> Path:
    path = folder / "hospital.toml"
    path.write_text(
        f'[services.ward]\nservice = "app.services.ward:service"\nport = {ward}\n\n'
        f'[services.outreach]\nservice = "app.services.outreach:service"\nport = {outreach}\n'
    )
    return path


class Up:
    def __init__(self, folder: Path, system: Path) -> None:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SLUICE_") and k != "DATABASE_URL"
        }
        self.log_path = folder / f"up-{time.monotonic_ns()}.log"
        self.log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "app", "up", str(system)],
            cwd=folder,
            env={**env, "SLUICE_ACCESS_LOG": "false"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_running(self, seconds: float = 180) -> None:
        deadline = time.monotonic() + seconds
        while RUNNING not in self.output():
            assert self.process.poll() is None, f"sluice up exited:\n{self.output()[-4000:]}"
            assert time.monotonic() < deadline, f"not running:\n{self.output()[-4000:]}"
            time.sleep(0.2)

    def ctrl_c(self) -> int:
        os.killpg(self.process.pid, signal.SIGINT)  # as the terminal sends it
        try:
            return self.process.wait(90)
        finally:
            self.log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)


def wait_for_row(url: str, key: str, path: str, **wanted: str) -> dict:
    deadline = time.monotonic() + 30
    while True:
        answer = httpx.get(url + path, headers={"Authorization": f"Bearer {key}"})
        if answer.status_code == 200 and all(answer.json().get(k) == v for k, v in wanted.items()):
            return answer.json()
        assert time.monotonic() < deadline, f"{path}: {answer.status_code} {answer.text}"
        time.sleep(0.1)


@pytest.mark.timeout(420)
def test_sluice_up_runs_both_services_wired_and_ctrl_c_stops_everything(tmp_path: Path) -> None:
    ward_port, outreach_port = free_port(), free_port()
    ward, outreach = f"http://127.0.0.1:{ward_port}", f"http://127.0.0.1:{outreach_port}"
    system = system_file(tmp_path, ward_port, outreach_port)
    data = tmp_path / ".sluice"

    up = Up(tmp_path, system)
    try:
        up.wait_running()
        ward_key = (data / "ward" / "admin.key").read_text().strip()
        outreach_key = (data / "outreach" / "admin.key").read_text().strip()
        as_ward = {"Authorization": f"Bearer {ward_key}"}
        httpx.post(f"{ward}/entities/patient/p1/admit", json=ADMIT, headers=as_ward)
        vitals = httpx.post(
            f"{ward}/entities/patient/p1/record-vitals", json=DETERIORATING, headers=as_ward
        )
        assert vitals.status_code == 200, vitals.text
        wait_for_row(outreach, outreach_key, "/views/callouts/p1", status="requested")
        accepted = httpx.post(
            f"{outreach}/entities/callout/p1/accept",
            json={"responder": "Dr Osei"},
            headers={"Authorization": f"Bearer {outreach_key}"},
        )
        assert accepted.status_code == 200, accepted.text
        wait_for_row(ward, ward_key, "/views/callout-status/p1", status="accepted")
        assert up.ctrl_c() == 0, up.output()[-4000:]
    finally:
        up.kill()
    output = up.output()
    assert "ward     | " in output and "outreach | " in output  # each line says whose
    for name in ("ward", "outreach"):
        assert not postgres_running_in(data / name), f"{name}'s PostgreSQL still runs"
        assert (data / name / "admin.key").stat().st_mode & 0o077 == 0
    stream_key = (data / "outreach" / "upstreams" / "ward.key").read_text()
    assert "streams:read:alerts" in stream_key

    again = Up(tmp_path, system)  # the same data, the same keys
    try:
        again.wait_running()
        row = wait_for_row(ward, ward_key, "/views/callout-status/p1", status="accepted")
        assert row["responder"] == "Dr Osei"
        assert "a key of ward's for outreach" not in again.output()  # kept, not made again
        assert (data / "outreach" / "upstreams" / "ward.key").read_text() == stream_key
        assert again.ctrl_c() == 0
    finally:
        again.kill()
