"""The documentation site: built with `mkdocs build --strict` (a broken link or a missing page
fails it), its generated pages say what the code has, no page loads anything from another
host, and in a real browser the home page leads into the tutorial and the tutorial onwards."""

from __future__ import annotations

import functools
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from app.observe.metrics import Metrics
from app.services.ward import service as ward_service
from app.settings import documented
from tests.e2e import test_console as console
from tests.e2e.test_console import PageProblems

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(120)

browser = console.browser
page = console.page
problems = console.problems


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    where = tmp_path_factory.mktemp("site")
    built = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(where)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": str(Path(sys.executable).parent)},
        timeout=110,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    return where


@pytest.fixture
def served(site: Path) -> Iterator[str]:
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(site))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_settings_and_metrics_pages_are_generated_from_the_code(site: Path) -> None:
    settings = (site / "operations" / "settings" / "index.html").read_text()
    for variable, _ in documented():
        assert f"<code>{variable}</code>" in settings, variable
    assert "SLUICE_OUTREACH_ACCEPT_SECONDS" in settings
    metrics = (site / "operations" / "metrics" / "index.html").read_text()
    for collector in Metrics(ward_service).registry._collector_to_names:
        name = getattr(collector, "_name", None)
        if name:
            assert name in metrics, name
    assert "sluice_consumer_lag_events" in metrics  # read when scraped, generated too
    api = (site / "reference" / "http-api" / "index.html").read_text()
    assert "POST /entities/patient/{entity_id}/admit" in api
    assert (site / "reference" / "openapi.json").exists()
    assert (site / "reference" / "assets" / "redoc.standalone.js").exists()


def test_no_page_loads_anything_from_another_host(site: Path) -> None:
    loads = re.compile(
        r'<(?:script|img|iframe)[^>]*\ssrc="(https?:)?//|<link[^>]*\shref="(https?:)?//'
    )
    pages = list(site.rglob("*.html"))
    assert len(pages) > 20
    offenders = [str(path.relative_to(site)) for path in pages if loads.search(path.read_text())]
    assert offenders == []
    styles = [path for path in site.rglob("*.css") if "@import url(http" in path.read_text()]
    assert styles == []


def test_the_home_page_leads_through_the_tutorial(
    served: str, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    elsewhere: list[str] = []
    # What was loaded (answered) from elsewhere: ReDoc asks for its logo on its CDN, and the
    # page's Content-Security-Policy refuses it before it leaves.
    own = (served, f"blob:{served}")  # ReDoc renders in a worker of its own page's origin
    page.on(
        "response",
        lambda answer: None if answer.url.startswith(own) else elsewhere.append(answer.url),
    )
    missing: list[str] = []
    page.on("response", lambda answer: missing.append(answer.url) if answer.status == 404 else None)
    page.goto(f"{served}/")
    heading = page.get_by_role("heading", level=1)  # its text ends with the permalink's ¶
    expect(heading.first).to_have_text(re.compile("^Sluice"))
    page.get_by_role("link", name="Tutorial", exact=True).first.click()
    expect(heading).to_have_text(re.compile("^Tutorial: from nothing to two services"))
    expect(page.locator("code").filter(has_text="sluice new piggy-bank").first).to_be_visible()
    # The tutorial's first links: the guides it sends the reader on to.
    page.get_by_role("link", name="Testing", exact=True).last.click()
    expect(heading).to_have_text(re.compile("^Your own service, and testing it"))
    page.go_back()
    page.get_by_role("link", name="Entities", exact=True).last.click()
    expect(heading).to_have_text(re.compile("^Entities"))
    page.goto(f"{served}/reference/redoc.html")
    expect(page.get_by_text("Sluice — ward").first).to_be_visible(timeout=20_000)
    assert elsewhere == []
    assert missing == []
    problems.assert_none(allow="Content Security Policy")  # ReDoc's logo, refused
