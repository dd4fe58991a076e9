"""The console's generic pages (Entities, Views, Log) in a real browser, against a service that
is not the ward: what they show comes from the service's own /openapi.json, nothing else.

Same browser, fixtures and screenshots as tests/e2e/test_console.py (Chromium through
Playwright; skipped without one, except under CI).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest

from app.sdk.service import Service
from app.services.ward import service as ward_service
from tests.e2e import test_console as console
from tests.e2e.test_console import (
    TABLET,
    PageProblems,
    admit,
    fits_without_sideways_scroll,
    screenshot,
)
from tests.support import flows, ledger
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS

T = TypeVar("T")
XSS = '<img src=x onerror="document.body.dataset.xss = 1">'

pytestmark = pytest.mark.timeout(60)

# The console tests' fixtures, shared: the browser (autouse), a watched page, the server.
browser = console.browser
page = console.page
problems = console.problems
settings = console.settings
server = console.server


@pytest.fixture
def service() -> Service:
    return ledger.service


@pytest.fixture
def http(server: str) -> Any:
    with httpx.Client(base_url=server, headers=AUTH_HEADERS, timeout=10) as client:
        yield client


def wait_until(condition: Callable[[], T | None], what: str, seconds: float = 10) -> T:
    """Poll until ``condition`` returns something truthy (the API side of a test)."""
    deadline = time.monotonic() + seconds
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {seconds:g}s waiting for {what}")
        time.sleep(0.05)
    return value


def command(http: httpx.Client, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = http.post(f"/entities/{path}", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


def open_account(http: httpx.Client, account_id: str, owner: str, *deposits: int) -> None:
    """Open, deposit, and wait for the welcome bonus: the account's history is then settled."""
    command(http, f"account/{account_id}/open", {"owner": owner})
    for amount in deposits:
        command(http, f"account/{account_id}/deposit", {"amount": amount})
    expected = 2 + len(deposits)  # opened, the bonus, the deposits

    def settled() -> bool:
        page = http.get(f"/entities/account/{account_id}/events", params={"limit": 1000})
        return len(page.json()["events"]) == expected

    wait_until(settled, f"{account_id}'s welcome bonus")


def balances_caught_up(http: httpx.Client, owner: str, rows: int) -> None:
    def done() -> bool:
        page = http.get("/views/balances", params={"owner": owner, "limit": 1000}).json()
        return len(page["items"]) == rows and all(
            row["balance"] % 10 == ledger.BONUS for row in page["items"]
        )

    wait_until(done, f"the balances view to show {owner}'s {rows} accounts")


def enter_key(page: Any, url: str, address: str = "") -> None:
    """Open the console (at ``address``, e.g. "#/log") and give it the key, from the keyboard."""
    page.goto(f"{url}/console/{address}")
    key = page.get_by_label("Key", exact=True)
    key.fill(ADMIN_KEY)
    key.press("Enter")
    page.locator("#key-dialog").wait_for(state="hidden")


def heading(page: Any) -> Any:
    return page.get_by_role("heading", level=1)


def test_entities_is_the_default_page_and_shows_state_version_and_events(
    server: str, http: httpx.Client, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    open_account(http, "a1", "Ada Lovelace", 10)
    open_account(http, "a2", "Alan Turing", *range(11, 41))  # 32 events: more than a page
    enter_key(page, server)
    expect(heading(page)).to_have_text("Entities")
    expect(heading(page)).to_be_focused()
    expect(page.get_by_role("link", name="Entities")).to_have_attribute("aria-current", "page")
    expect(page.locator("nav a[data-view='board']")).to_be_hidden()  # no ward-board view here
    types = page.get_by_label("Entity type").locator("option")
    expect(types).to_have_text(["account", "piggy"])  # from /openapi.json

    page.get_by_label("Entity type").select_option("account")
    page.get_by_label("Entity id").fill("a1")
    page.get_by_label("Entity id").press("Enter")
    expect(page).to_have_url(re.compile(r"#/entities/account/a1$"))
    fields = page.locator("#entity-fields")
    expect(fields).to_contain_text("ownerAda Lovelace")
    expect(fields).to_contain_text(f"balance{10 + ledger.BONUS}")
    expect(fields).to_contain_text("currencyEUR")
    expect(page.locator("#entity-version")).to_have_text("3")
    rows = page.locator("#entity-events tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("account.AccountOpened")
    expect(rows.nth(0)).to_contain_text("Ada Lovelace")
    expect(page.locator("#announcer")).to_have_text("account a1: version 3, 3 events shown.")

    page.get_by_label("Entity id").fill("a2")
    page.get_by_role("button", name="Look up").click()
    expect(page.locator("#entity-version")).to_have_text("32")
    expect(rows).to_have_count(25)
    page.get_by_role("button", name="Load more events").click()
    expect(rows).to_have_count(32)
    expect(page.get_by_role("button", name="Load more events")).to_be_hidden()
    expect(rows.last).to_have_attribute("data-version", "32")
    screenshot(page, "console-entities.png")

    page.get_by_label("Entity id").fill("nobody")
    page.get_by_label("Entity id").press("Enter")
    expect(page.get_by_role("alert")).to_have_text("No such entity: account “nobody”.")
    expect(page.locator("#entity-problem")).to_contain_text(
        "Not found: account 'nobody' has no events"
    )
    page.go_back()  # the lookups are in the history
    expect(page.locator("#entity-version")).to_have_text("32")

    shared = page.context.new_page()  # a new tab: no key yet, only the address
    problems.watch(shared)
    enter_key(shared, server, "#/entities/account/a1")
    expect(shared.locator("#entity-version")).to_have_text("3")
    expect(shared.get_by_label("Entity id")).to_have_value("a1")
    shared.set_viewport_size(TABLET)
    assert fits_without_sideways_scroll(shared)
    screenshot(shared, "console-entities-tablet.png")
    problems.assert_none(allow=r"status of 404")  # the lookup of "nobody"


def test_a_view_is_filtered_sorted_and_paged_from_the_address(
    server: str, http: httpx.Client, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    for n in range(1, 13):
        open_account(http, f"ada-{n:02}", "Ada", n * 10)
    open_account(http, "bob-1", "Bob", 1000)
    balances_caught_up(http, "Ada", 12)
    balances_caught_up(http, "Bob", 1)
    enter_key(page, server, "#/views")
    expect(heading(page)).to_have_text("Views")
    expect(page.get_by_label("View", exact=True).locator("option")).to_have_text(
        ["balances", "deposits"]
    )
    page.get_by_label("View", exact=True).select_option("balances")
    table = page.locator("#view-rows")
    expect(table.locator("thead th")).to_have_text(
        ["account_id", "owner", "balance"]
    )  # declared order
    expect(table.locator("tbody tr")).to_have_count(13)

    page.get_by_label("owner").fill("Ada")
    page.get_by_label("Sort by").select_option("-balance")
    page.get_by_label("Rows per page").select_option("10")
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"#/views/balances\?owner=Ada&sort=-balance&limit=10$"))
    balances = [str(n * 10 + ledger.BONUS) for n in range(12, 0, -1)]
    expect(table.locator("tbody td:nth-child(3)")).to_have_text(balances[:10])
    expect(page.get_by_role("button", name="Previous")).to_be_disabled()
    expect(page.locator(".pager .message")).to_have_text("Rows 1\N{EN DASH}10.")

    page.get_by_role("button", name="Next").click()
    expect(table.locator("tbody td:nth-child(3)")).to_have_text(balances[10:])
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    expect(page.locator(".pager .message")).to_have_text("Rows 11\N{EN DASH}12.")
    page.reload()  # the filter, sort and page are in the address
    expect(page.get_by_label("owner")).to_have_value("Ada")
    expect(page.get_by_label("Sort by")).to_have_value("-balance")
    expect(table.locator("tbody td:nth-child(3)")).to_have_text(balances[10:])
    page.get_by_role("button", name="Previous").click()
    expect(table.locator("tbody td:nth-child(3)")).to_have_text(balances[:10])
    assert fits_without_sideways_scroll(page)
    screenshot(page, "console-views.png")

    page.goto(f"{server}/console/#/views/balances?colour=red")  # not a filter of balances
    expect(page.locator(".pager .message")).to_have_attribute("data-kind", "error")
    expect(page.locator(".pager .message")).to_contain_text(
        "Unknown query parameter: balances takes no colour; it filters on: owner"
    )
    page.goto(f"{server}/console/#/views/nope")
    expect(page.locator(".pager .message")).to_have_text("This service has no view “nope”.")
    expect(page.get_by_role("button", name="Next")).to_be_disabled()
    problems.assert_none(allow=r"status of 422")


def test_the_log_follows_new_events_live_with_filters_and_pause(
    server: str, http: httpx.Client, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    open_account(http, "l1", "Lin")
    enter_key(page, server, "#/log")
    expect(heading(page)).to_have_text("Log")
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    rows = page.locator("#log-table tbody tr")
    expect(rows).to_have_count(2)  # the backfill: opened, bonus
    command(http, "account/l1/deposit", {"amount": 7})
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("account.MoneyDeposited")
    seqs = [int(seq) for seq in rows.evaluate_all("rows => rows.map(row => row.dataset.seq)")]
    assert seqs == sorted(seqs, reverse=True)  # newest first

    page.get_by_label("Entity id").fill("l2")
    page.get_by_label("Entity id").press("Enter")
    expect(page).to_have_url(re.compile(r"#/log\?entity_id=l2$"))
    expect(rows).to_have_count(0)
    expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    command(http, "account/l1/deposit", {"amount": 8})  # not l2: never shown
    open_account(http, "l2", "Lou")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-subject", "l2")
    expect(rows.last).to_have_attribute("data-subject", "l2")

    pause = page.get_by_role("button", name="Pause")
    pause.click()
    expect(page.get_by_role("button", name="Resume")).to_have_attribute("aria-pressed", "true")
    command(http, "account/l2/deposit", {"amount": 20})
    command(http, "account/l2/deposit", {"amount": 30})
    expect(page.locator("#log-waiting")).to_have_text("Paused: 2 new events wait.")
    expect(rows).to_have_count(2)
    page.get_by_role("button", name="Resume").click()
    expect(rows).to_have_count(4)
    expect(page.locator("#log-waiting")).to_have_text("")
    first = rows.first
    expect(first).to_contain_text("account.MoneyDeposited")
    first.locator("summary").click()  # the data, formatted
    expect(first.locator("pre")).to_have_text('{\n  "amount": 30\n}')
    assert fits_without_sideways_scroll(page)
    screenshot(page, "console-log.png")
    page.set_viewport_size(TABLET)
    assert fits_without_sideways_scroll(page)
    screenshot(page, "console-log-tablet.png")
    problems.assert_none()


def test_values_from_the_api_are_shown_as_text_never_as_markup(
    server: str, http: httpx.Client, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    open_account(http, "x1", XSS)
    balances_caught_up(http, XSS, 1)
    enter_key(page, server, "#/entities/account/x1")
    expect(page.locator("#entity-fields")).to_contain_text(f"owner{XSS}")
    expect(page.locator("#entity-events")).to_contain_text(XSS)
    page.goto(f"{server}/console/#/views/balances")
    expect(page.locator("#view-rows tbody")).to_contain_text(XSS)
    page.goto(f"{server}/console/#/log?entity_id=x1")
    expect(page.locator("#log-table tbody tr")).to_have_count(2)
    expect(page.locator("#log-table")).to_contain_text(XSS.replace('"', '\\"'))  # JSON text
    assert page.locator("main img").count() == 0
    assert page.evaluate("document.body.dataset.xss") is None
    problems.assert_none()  # a blocked inline handler would log a CSP error


@pytest.mark.parametrize("service", [ward_service], ids=["ward"])
def test_the_ward_keeps_its_board_as_the_default_page(
    server: str, http: httpx.Client, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    admit(http, "p1", "Ada Lovelace", "12")
    wait_until(lambda: http.get("/views/ward-board/p1").status_code == 200, "p1 on the board")
    enter_key(page, server)
    board = page.get_by_role("link", name="Ward board")
    expect(board).to_be_visible()
    expect(board).to_have_attribute("aria-current", "page")
    expect(heading(page)).to_have_text("Ward W1")
    expect(page.locator("#card-p1")).to_contain_text("Ada Lovelace")

    page.get_by_role("link", name="Entities").click()
    expect(heading(page)).to_have_text("Entities")
    expect(page.get_by_label("Entity type").locator("option")).to_have_text(["alert", "patient"])
    page.get_by_label("Entity type").select_option("patient")
    page.get_by_label("Entity id").fill("p1")
    page.get_by_label("Entity id").press("Enter")
    expect(page.locator("#entity-fields")).to_contain_text("nameAda Lovelace")
    page.get_by_role("link", name="Views").click()
    expect(page.get_by_label("View", exact=True).locator("option")).to_have_text(
        ["callout-status", "open-alerts", "ward-board"]
    )
    problems.assert_none()


@pytest.mark.parametrize("service", [flows.service], ids=["flows"])
def test_workflows_show_their_step_and_deadline_and_an_operator_pauses_one(
    server: str, http: httpx.Client, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    for n in (1, 2):
        command(http, f"bumper/w{n}/start", {"target": f"c{n}", "ack_within": 60})
    wait_until(
        lambda: (
            len(http.get("/workflows").json()["workflows"]) == 2
            and all(w["step"] == "await-ack" for w in http.get("/workflows").json()["workflows"])
        ),
        "both workflows waiting for their ack",
    )
    enter_key(page, server)
    page.get_by_role("link", name="Workflows").click()
    expect(heading(page)).to_have_text("Workflows")
    first = page.locator("#workflow-bumper-w1")
    expect(first).to_contain_text("await-ack")
    expect(first).to_contain_text(re.compile(r"times out in \d+ s"))
    expect(page.locator("#workflows tbody tr")).to_have_count(2)
    screenshot(page, "console-workflows.png")

    first.get_by_role("button", name="Pause bumper w1").click()
    expect(first).to_contain_text("Paused")
    assert http.get("/entities/bumper/w1").json()["state"]["status"] == "paused"
    first.get_by_role("button", name="Resume bumper w1").click()
    expect(first).to_contain_text("Running")
    page.locator("#workflow-bumper-w2").get_by_role("button", name="Cancel bumper w2").click()
    expect(page.locator("#workflows tbody tr")).to_have_count(1)
    page.get_by_label("Status").select_option("cancelled")
    expect(page.locator("#workflow-bumper-w2")).to_contain_text("Cancelled")
    problems.assert_none()


def test_a_service_without_workflows_has_no_workflows_page(
    server: str, page: Any, problems: PageProblems
) -> None:
    from playwright.sync_api import expect

    enter_key(page, server, "#/workflows")
    expect(heading(page)).to_have_text("Entities")  # the address falls back to the default
    expect(page.get_by_role("link", name="Workflows")).to_be_hidden()
    problems.assert_none()
