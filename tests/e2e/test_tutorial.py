"""The tutorial (docs/tutorial.md), run: every bash block of the page, in order, in one shell,
in an empty folder, with its included files expanded as the site shows them. It makes a
project with `sluice new`, installs and tests it in a fresh virtual environment, runs it,
adds an action and a public stream, and runs a second service that reads the stream."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PAGE = ROOT / "docs" / "tutorial.md"
INCLUDED = ROOT / "docs" / "tutorial"
SNIPPET = re.compile(r'^--8<-- "([^"]+)"$', re.MULTILINE)

pytestmark = pytest.mark.timeout(600)


def tutorial_script() -> str:
    """The page's bash blocks, joined, each ``--8<--`` line replaced by the file it names."""
    blocks = re.findall(r"^```bash\n(.*?)^```$", PAGE.read_text(), re.MULTILINE | re.DOTALL)
    assert len(blocks) >= 8, "the tutorial's commands were not found"
    script = "\n".join(blocks)
    return SNIPPET.sub(lambda found: (INCLUDED / found.group(1)).read_text().rstrip("\n"), script)


def test_every_command_of_the_tutorial_runs(tmp_path: Path) -> None:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("SLUICE_") and name != "DATABASE_URL"
    }
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    process = subprocess.Popen(
        ["bash", "-euo", "pipefail", "-c", tutorial_script()],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # the servers it starts are in its group: stopped below
    )
    try:
        output, _ = process.communicate(timeout=540)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
    logs = "".join(
        f"\n--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
        for log in (tmp_path / "piggy-bank").glob("*.log")
    )
    assert process.returncode == 0, output[-6000:] + logs
    # What the page says the reader sees: the view, the bonus, the stream, the desk's totals.
    assert '"owner":"Grace","balance":50' in output, output[-3000:]
    assert '"type":"piggy-bank.Deposited"' in output
    totals = output.strip().splitlines()[-1]
    assert (
        '"account_id":"a1","deposited":50' in totals and '"account_id":"a2","deposited":5' in totals
    )
