"""The README's quick start is what CI runs; the documentation says every setting (its page is
generated from the settings model) and names every package of the layout."""

from __future__ import annotations

from pathlib import Path

from app.settings import documented

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"


def test_every_setting_is_described_and_its_page_is_generated() -> None:
    for variable, field in documented():
        assert field.description, f"{variable} has no description"
    assert "<!-- settings -->" in (DOCS / "operations" / "settings.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = ci.strip().splitlines()[-1]
    assert command in README, "the README's test command and .ci/run disagree"


def test_the_layout_section_names_every_package_and_module_of_app() -> None:
    how_it_works = (DOCS / "operations" / "guarantees.md").read_text()
    block = how_it_works.split("Layout, in the order the data flows", 1)[1].split("```", 2)[1]
    listed = {
        line.split()[0]
        for line in block.splitlines()
        if line.startswith("  ") and not line.startswith("   ")
    }
    app = ROOT / "app"
    present = {
        path.name.removesuffix(".py") if path.is_file() else path.name
        for path in app.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.name not in ("__init__.py", "__main__.py"))
    }
    named = {entry.split("/")[0].removesuffix(".py") for entry in listed}
    assert named == present, f"the layout: missing {present - named}, stale {named - present}"
