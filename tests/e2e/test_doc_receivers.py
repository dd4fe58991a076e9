"""The webhook receivers the documentation shows, run against real deliveries: the Python one
(its code taken from docs/guides/webhooks.md as the page shows it) and the Node.js one
(docs/guides/receiver.mjs, which the page includes). Each prints a verified delivery; the
Node.js one refuses a forged one with 401."""

from __future__ import annotations

import os
import re
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.main import create_app
from app.settings import Settings
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.servers import free_port, uvicorn_in_thread
from tests.support.ward import ADMIT

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "guides" / "webhooks.md"
NODE_RECEIVER = ROOT / "docs" / "guides" / "receiver.mjs"

pytestmark = pytest.mark.timeout(60)


def python_receiver() -> str:
    blocks = re.findall(r"^```python\n(.*?)^```$", GUIDE.read_text(), re.MULTILINE | re.DOTALL)
    found = [block for block in blocks if "class Receiver" in block]
    assert len(found) == 1, "the guide's receiver was not found"
    return found[0]


@pytest.fixture
def ward(tmp_path: Path, database_url: str) -> Iterator[str]:
    settings = Settings(
        admin_key=ADMIN_KEY,
        data_dir=tmp_path / "data",
        webhook_allow_private=True,  # the receiver is on loopback, over plain http
        relay_poll_seconds=0.2,
    )
    with uvicorn_in_thread(create_app(settings, database_url=database_url)) as url:
        yield url


def receive_one(ward: str, command: list[str], tmp_path: Path) -> tuple[str, str, int]:
    """Subscribe a receiver, admit a patient; the line it printed, its secret and port."""
    port = free_port()
    with httpx.Client(base_url=ward, headers=AUTH_HEADERS, timeout=10) as http:
        hook = http.post(
            "/webhooks",
            json={"url": f"http://127.0.0.1:{port}/hook", "event_types": ["patient.*"]},
        ).json()
        receiver = subprocess.Popen(
            [*command, hook["secret"]],
            env={**os.environ, "PORT": str(port)},
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            http.post("/entities/patient/p-doc/admit", json=ADMIT).raise_for_status()
            while time.monotonic() < deadline:
                ready, _, _ = select.select([receiver.stdout], [], [], 0.5)
                if ready:
                    line = receiver.stdout.readline()  # type: ignore[union-attr]
                    if "patient.PatientAdmitted" in line:
                        return line, hook["secret"], port
                    assert line, "the receiver exited"
                else:
                    # A delivery that failed (the receiver not listening yet) is retried on its
                    # schedule: ask for it again at once.
                    http.post(f"/webhooks/{hook['id']}/replay", params={"after": 0})
            raise AssertionError("the receiver printed no delivery")
        finally:
            receiver.terminate()
            receiver.wait(5)
            receiver.stdout.close()  # type: ignore[union-attr]


def test_the_python_receiver_of_the_guide_verifies_and_prints(ward: str, tmp_path: Path) -> None:
    (tmp_path / "receiver.py").write_text(python_receiver())
    line, _, _ = receive_one(ward, [sys.executable, "receiver.py"], tmp_path)
    _webhook_id, event_type, data = line.split(" ", 2)
    assert event_type == "patient.PatientAdmitted" and '"ward": "W1"' in data


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed here")
def test_the_node_receiver_of_the_guide_verifies_and_refuses_a_forgery(
    ward: str, tmp_path: Path
) -> None:
    node = shutil.which("node")
    assert node is not None
    line, _, port = receive_one(ward, [node, str(NODE_RECEIVER)], tmp_path)
    assert " patient.PatientAdmitted " in line
    # Not a delivery from Sluice: a wrong signature is refused (the process was stopped, so
    # run it again to ask).
    receiver = subprocess.Popen(
        [node, str(NODE_RECEIVER), "whsec_" + "A" * 32],
        env={**os.environ, "PORT": str(port)},
    )
    try:
        forged = {
            "webhook-id": "msg_forged",
            "webhook-timestamp": str(int(time.time())),
            "webhook-signature": "v1,bm90IGEgc2lnbmF0dXJl",
        }
        for _ in range(50):
            try:
                answer = httpx.post(f"http://127.0.0.1:{port}/hook", json={}, headers=forged)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert answer.status_code == 401
    finally:
        receiver.terminate()
        receiver.wait(5)
