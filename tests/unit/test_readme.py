"""The README documents every setting, and its quick start is what CI runs."""

from __future__ import annotations

from pathlib import Path

from app.settings import documented

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def test_every_setting_is_documented() -> None:
    for variable, field in documented():
        assert f"`{variable}`" in README or f"{variable}`" in README, f"{variable} not in README"
        assert field.description, f"{variable} has no description"


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.strip().splitlines()[-1]
    assert command in README, "the README's test command and .ci/run disagree"
