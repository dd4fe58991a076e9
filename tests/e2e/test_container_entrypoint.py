"""The Docker image, as far as it can be checked without a Docker engine: its shape (multi-
stage, non-root, health check on /readyz, no embedded database) and its entrypoint command
run here with the image's environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import SluiceProcess

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()


def image_env() -> dict[str, str]:
    block = re.search(r"^ENV (.+?)(?=^\S)", DOCKERFILE, re.M | re.S)
    assert block is not None
    pairs = re.findall(r"(\w+)=(\S+)", block.group(1))
    return {name: value for name, value in pairs if name != "PATH"}


def instruction(name: str) -> list[str]:
    return re.findall(rf"^{name} (.+)$", DOCKERFILE, re.M)


def test_the_image_is_multi_stage_non_root_and_checks_readiness() -> None:
    assert len(instruction("FROM")) >= 2
    assert any("--from=build" in line for line in instruction("COPY"))
    users = instruction("USER")
    assert users and users[-1] not in ("root", "0")
    health = " ".join(re.findall(r"^HEALTHCHECK .*(?:\n\s+.*)*", DOCKERFILE, re.M))
    assert "/readyz" in health
    assert image_env()["SLUICE_EMBEDDED"] == "false"
    assert json.loads(instruction("CMD")[-1]) == ["sluice", "serve"]
    assert (ROOT / ".dockerignore").exists()


def test_the_entrypoint_refuses_to_start_without_database_url(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    done = subprocess.run(
        [sys.executable, "-m", "app", "serve"],
        env={**env, **image_env()},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "DATABASE_URL is required" in done.stderr
    assert not (tmp_path / ".sluice").exists(), "no embedded database was started"


@pytest.mark.timeout(120)
def test_the_entrypoint_serves_with_database_url_and_its_health_check_passes(
    database_url: str, tmp_path: Path
) -> None:
    env = {**image_env(), "DATABASE_URL": database_url, "SLUICE_HOST": "127.0.0.1"}
    process = SluiceProcess(env, tmp_path)
    try:
        process.wait_ready()
        check = re.search(r'CMD \["python", "-c", "(.+)"\]', DOCKERFILE)
        assert check is not None
        probe = check.group(1).replace("127.0.0.1:8000", f"127.0.0.1:{process.port}")
        subprocess.run([sys.executable, "-c", probe], check=True, timeout=10)
    finally:
        process.close()
