"""The console in a real browser: Chromium driven by Playwright, against real servers.

The tests drive Debian's Chromium (/usr/bin/chromium, or SLUICE_CHROMIUM), which .ci/run
installs. Without one they are skipped saying so, except under CI, where a missing browser is
a failure: these tests must run there. Screenshots go to test-artifacts/ (git-ignored);
docs/console-*.png are copies of them.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.main import create_app
from app.sdk.service import Service
from app.settings import Settings
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.servers import SluiceProcess, free_port, uvicorn_in_thread
from tests.support.ward import ADMIT, vitals

CHROMIUM = Path(os.environ.get("SLUICE_CHROMIUM", "/usr/bin/chromium"))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
DESKTOP = {"width": 1280, "height": 800}
TABLET = {"width": 768, "height": 1024}

# NEWS2 8, high: respiration 2, SpO2 2, systolic 1, pulse 2, temperature 1.
ALARMING = vitals(respiration_rate=24, spo2=93, systolic_bp=105, pulse=112, temperature=38.4)
# NEWS2 5, medium.
WORRYING = vitals(respiration_rate=22, spo2=94, systolic_bp=108, pulse=98, temperature=37.2)
# NEWS2 3 from one parameter (new confusion): low-medium.
CONFUSED = vitals(consciousness="C")
# NEWS2 2: low, but not 0.
SLIGHTLY_OFF = vitals(pulse=95, temperature=38.2)

pytestmark = pytest.mark.timeout(60)


def _missing_browser() -> str | None:
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (.ci/run installs Debian's chromium package)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[test]')"
    return None


@pytest.fixture(scope="module", autouse=True)  # first: skip before any server starts
def browser() -> Iterator[Any]:
    missing = _missing_browser()
    if missing:
        if os.environ.get("CI"):
            pytest.fail(f"the console's browser tests must run in CI: {missing}")
        pytest.skip(missing)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield chromium
        chromium.close()


class PageProblems:
    """What went wrong inside the page: uncaught exceptions and console errors."""

    def __init__(self) -> None:
        self.exceptions: list[str] = []
        self.console_errors: list[str] = []

    def watch(self, page: Any) -> None:
        page.on("pageerror", lambda error: self.exceptions.append(str(error)))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.console_errors.append(message.text)

    def assert_none(self, *, allow: str | None = None) -> None:
        assert self.exceptions == []
        errors = [e for e in self.console_errors if not (allow and re.search(allow, e))]
        assert errors == []


@pytest.fixture
def problems() -> PageProblems:
    return PageProblems()


@pytest.fixture
def page(browser: Any, problems: PageProblems) -> Iterator[Any]:
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(10_000)
    problems.watch(page)
    yield page
    context.close()  # before the servers stop: no WebSocket left open to hold them


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "data",
        admin_key=ADMIN_KEY,
        webhook_allow_private=True,
        webhook_retry_schedule="0.2",  # two attempts, then failed
        webhook_timeout_seconds=2.0,
        relay_poll_seconds=0.2,
        leader_retry_seconds=0.5,
        pool_min_size=16,  # see tests/support/webhooks.py: no worker waits for a connection
        pool_max_size=16,
    )


@pytest.fixture
def server(settings: Settings, service: Service, database_url: str) -> Iterator[str]:
    app: FastAPI = create_app(settings, service=service, database_url=database_url)
    with uvicorn_in_thread(app) as url:
        yield url


def open_console(page: Any, url: str, view: str) -> None:
    """Open the console and give it the key, from the keyboard."""
    page.goto(f"{url}/console/#/{view}")
    key = page.get_by_label("Key", exact=True)
    key.fill(ADMIN_KEY)
    key.press("Enter")
    page.locator("#key-dialog").wait_for(state="hidden")
    page.wait_for_selector("#connection[data-state='live']")


def command(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(f"/entities/{path}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def admit(http: httpx.Client, patient_id: str, name: str, bed: str, ward: str = "W1") -> None:
    command(http, f"patient/{patient_id}/admit", {**ADMIT, "name": name, "bed": bed, "ward": ward})


def background(locator: Any) -> str:
    return str(locator.evaluate("element => getComputedStyle(element).backgroundColor"))


def fits_without_sideways_scroll(page: Any) -> bool:
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def screenshot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / name, full_page=True)


def test_the_board_follows_vitals_live_and_acknowledges_alerts(
    server: str, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=server, headers=AUTH_HEADERS, timeout=10) as http:
        for patient_id, name, bed, observed in [
            ("p1", "Ada Lovelace", "12", vitals()),
            ("p2", "Alan Turing", "3", vitals()),
            ("p3", "Grace Hopper", "7", WORRYING),
            ("p4", "Mary Seacole", "1", CONFUSED),
            ("p5", "John Snow", "5", SLIGHTLY_OFF),
        ]:
            admit(http, patient_id, name, bed)
            command(http, f"patient/{patient_id}/record-vitals", observed)
        page.goto(f"{server}/console/#/board/W1")
        key = page.get_by_label("Key", exact=True)
        key.fill("sk_not_a_key_of_this_server_0000")
        key.press("Enter")
        expect(page.locator("#key-error")).to_have_text("This key was refused.")
        expect(page.locator("#cards")).to_have_count(0)  # nothing works without a key
        open_console(page, server, "board/W1")
        card = page.locator("#card-p1")
        expect(card).to_have_attribute("data-score", "0")
        expect(card).to_contain_text("Low risk")
        page.reload()  # the key is kept for the tab: not asked again
        expect(page.locator("#connection")).to_have_attribute("data-state", "live")
        expect(page.locator("#key-dialog")).to_be_hidden()
        calm = background(card)

        posted = time.monotonic()
        command(http, "patient/p1/record-vitals", ALARMING)
        expect(card).to_have_attribute("data-score", "8", timeout=2000)
        assert time.monotonic() - posted < 2.0
        expect(card).to_have_attribute("data-band", "high")
        expect(card.locator(".score")).to_have_text("8")
        expect(card).to_contain_text("High risk")  # the risk in words, not only in colour
        assert background(card) != calm

        alert = page.locator("#alert-p1")
        expect(alert).to_contain_text("High risk · NEWS2 8 · Bed 12 · Ada Lovelace")
        expect(page.locator("#alerts > li").first).to_have_id("alert-p1")  # most urgent first
        page.get_by_label("Your name (for acknowledgements)").fill("Dr Florence")
        acknowledge = alert.get_by_role("button", name="Acknowledge")
        acknowledge.focus()
        page.keyboard.press("Enter")
        expect(alert.locator(".ack")).to_have_text(re.compile(r"^Acknowledged by Dr Florence at "))
        expect(acknowledge).to_be_disabled()
        expect(card).to_contain_text("acknowledged by Dr Florence")
        events = http.get("/entities/alert/p1/events").json()["events"]
        types = [event["type"] for event in events]
        assert types == ["alert.AlertRaised", "alert.AlertAcknowledged"]
        alert.get_by_text("Alert events").click()
        expect(alert.locator("details li")).to_have_count(2)
        expect(alert.locator("details li").last).to_contain_text("AlertAcknowledged")

        assert fits_without_sideways_scroll(page)
        page.mouse.move(0, 0)
        screenshot(page, "console-board.png")
        page.set_viewport_size(TABLET)
        assert fits_without_sideways_scroll(page)
        screenshot(page, "console-board-tablet.png")
    problems.assert_none(allow=r"status of 401")  # the refused key


@pytest.mark.timeout(120)  # two `sluice serve` starts: slow on a busy machine
def test_the_board_reconnects_and_catches_up_after_its_server_restarts(
    settings: Settings,
    service: Service,
    database_url: str,
    tmp_path: Path,
    page: Any,
    problems: PageProblems,
) -> None:
    """The page's server is a `sluice serve` process, killed and started again on its port;
    meanwhile commands go to a second server on the same database."""
    from playwright.sync_api import expect

    env = {
        "DATABASE_URL": database_url,
        "SLUICE_ADMIN_KEY": ADMIN_KEY,
        "SLUICE_LEADER_RETRY_SECONDS": "0.5",
        "SLUICE_RELAY_POLL_SECONDS": "0.2",
    }
    port = free_port()
    served = SluiceProcess(env, tmp_path, port=port)
    other = create_app(settings, service=service, database_url=database_url)
    try:
        with (
            uvicorn_in_thread(other) as other_url,
            httpx.Client(base_url=other_url, headers=AUTH_HEADERS, timeout=10) as http,
        ):
            served.wait_ready()
            admit(http, "p1", "Ada Lovelace", "12")
            command(http, "patient/p1/record-vitals", vitals())
            open_console(page, served.url, "board/W1")
            card = page.locator("#card-p1")
            expect(card).to_have_attribute("data-score", "0")

            served.kill()  # its WebSocket dies with it
            connection = page.locator("#connection")
            expect(connection).to_have_attribute("data-state", "reconnecting", timeout=3000)
            expect(connection).to_contain_text("Reconnecting")
            command(http, "patient/p1/record-vitals", ALARMING)
            admit(http, "p2", "Alan Turing", "3")
            expect(connection).to_have_attribute("data-state", "reconnecting")
            served.close()

            served = SluiceProcess(env, tmp_path, port=port)  # same port, same database
            served.wait_ready()
            expect(connection).to_have_attribute("data-state", "live", timeout=10_000)
            expect(card).to_have_attribute("data-score", "8", timeout=5000)
            expect(page.locator("#card-p2")).to_contain_text("Alan Turing")
            expect(page.locator("#alert-p1")).to_contain_text("High risk")
            page.context.close()  # before `other` stops
    finally:
        served.close()
    # The browser logs the refused connections while the server was away; nothing else.
    problems.assert_none(allow=r"WebSocket connection|Failed to load resource|ERR_CONNECTION")


class Receiver(ThreadingHTTPServer):
    """A webhook receiver answering ``status``; ``hits`` counts the requests."""

    status = 500
    hits = 0


class ReceiverHandler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.server.hits += 1
        body = json.dumps({"ok": self.server.status < 300}).encode()
        self.send_response(self.server.status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver(("127.0.0.1", 0), ReceiverHandler) as hook:
        thread = threading.Thread(target=hook.serve_forever, daemon=True)
        thread.start()
        yield hook
        hook.shutdown()


def test_the_operator_view_shows_a_failed_delivery_and_retries_it(
    server: str, receiver: Receiver, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    with httpx.Client(base_url=server, headers=AUTH_HEADERS, timeout=10) as http:
        url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        body = {"url": url, "event_types": ["patient.PatientAdmitted"]}
        created = http.post("/webhooks", json=body)
        assert created.status_code == 201, created.text
        webhook_id = created.json()["id"]
        admit(http, "p1", "Ada Lovelace", "12")
        command(http, "patient/p1/record-vitals", WORRYING)
        open_console(page, server, "operator")

        delivery = page.locator(f"#webhook-{webhook_id} tr[data-status]").first
        expect(delivery).to_have_attribute("data-status", "failed", timeout=10_000)
        expect(delivery).to_contain_text("Failed")
        expect(delivery).to_contain_text("HTTP 500")
        expect(delivery.locator("td").nth(3)).to_have_text("2")  # attempts
        assert receiver.hits == 2
        expect(page.locator("#chart-summary")).to_contain_text("2 failed", timeout=5000)

        receiver.status = 200
        delivery.get_by_role("button", name=re.compile("^Retry delivery")).click()
        expect(delivery).to_have_attribute("data-status", "succeeded", timeout=5000)
        expect(delivery).to_contain_text("HTTP 200")
        assert receiver.hits == 3

        ward_board = page.locator("#consumer-ward-board")
        expect(ward_board).to_contain_text("Running")
        ward_board.get_by_role("button", name="Pause ward-board").click()
        expect(ward_board).to_have_attribute("data-state", "paused")
        ward_board.get_by_role("button", name="Resume ward-board").click()
        expect(ward_board).to_have_attribute("data-state", "running")
        expect(page.locator("#tail")).to_contain_text("patient.PatientAdmitted")

        receiver.status = 503
        admit(http, "p2", "Alan Turing", "3")
        expect(page.locator("#tail tbody tr").first).to_contain_text("patient.PatientAdmitted")
        newest = page.locator(f"#webhook-{webhook_id} tr[data-status]").first
        expect(newest).to_contain_text("p2")
        expect(newest).to_have_attribute("data-status", "failed", timeout=10_000)
        expect(page.locator("#chart-summary")).to_contain_text("1 succeeded, 4 failed")
        assert fits_without_sideways_scroll(page)
        screenshot(page, "console-operator.png")
    problems.assert_none()


@pytest.mark.parametrize(
    ("path", "rendered"),
    [("/docs", ".opblock-summary-path"), ("/redoc", "[data-section-id^='tag']")],
)
def test_api_docs_render_from_this_origin_only(
    page: Any, problems: PageProblems, server: str, path: str, rendered: str
) -> None:
    """Swagger UI and ReDoc come from the package, under a CSP: nothing from another host
    (a machine without internet sees the same page), no inline script needed. (ReDoc's
    footer asks for its maker's logo from a CDN; the policy stops it before the network.)"""
    requested: list[str] = []
    page.on("requestfinished", lambda request: requested.append(request.url))
    answer = page.goto(f"{server}{path}")
    assert answer is not None and "script-src" not in answer.headers["content-security-policy"]
    assert "default-src 'self'" in answer.headers["content-security-policy"]
    page.locator(rendered).first.wait_for()
    assert page.get_by_text("/entities/patient/{entity_id}/admit").first.is_visible()
    others = [url for url in requested if not url.startswith((server, "data:", "blob:"))]
    assert others == []
    problems.assert_none(allow="cdn.redoc.ly/redoc/logo-mini.svg")


def test_the_board_shows_each_patient_s_callout_from_the_outreach_team(
    tmp_path: Path,
    database_url: str,
    outreach_database_url: str,
    page: Any,
    problems: PageProblems,
) -> None:
    """The callout lives in another service: it reaches the ward through outreach's public
    stream (the callout-status view), and the card says it."""
    from playwright.sync_api import expect

    from tests.support.system import two_services
    from tests.support.ward import DETERIORATING

    with two_services(tmp_path, database_url, outreach_database_url) as system:
        with httpx.Client(base_url=system.ward, headers=AUTH_HEADERS, timeout=10) as ward:
            admit(ward, "p1", "Ada Lovelace", "3")
            open_console(page, system.ward, "board/W1")
            command(ward, "patient/p1/record-vitals", DETERIORATING)
        card = page.locator("#card-p1")
        expect(card.locator(".callout-line")).to_have_text(re.compile("Outreach: outreach called"))
        with httpx.Client(base_url=system.outreach, headers=AUTH_HEADERS, timeout=10) as outreach:
            accepted = None
            for _ in range(100):  # the callout is requested once outreach has read the alert
                accepted = outreach.post(
                    "/entities/callout/p1/accept", json={"responder": "Dr Osei"}
                )
                if accepted.status_code == 200:
                    break
                time.sleep(0.1)
            assert accepted is not None and accepted.status_code == 200, accepted.text
        expect(card.locator(".callout-line")).to_have_text(
            re.compile(r"Outreach: outreach on the way \(Dr Osei\)")
        )
        screenshot(page, "console-board-callout.png")
        page.context.close()  # before the servers stop
    problems.assert_none()
