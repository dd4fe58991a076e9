"""Querying views over HTTP: filters, sort, paging, rows by key, read-your-writes, and errors.

The ward-board patients below all score low on NEWS2, so the vitals monitor raises no alert
behind the tests' backs; open alerts are raised directly through the alert's own command.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.settings import Settings
from tests.support.auth import ADMIN_KEY
from tests.support.ward import vitals

PROBLEM = "application/problem+json"

# patient id: (name, ward, bed, vitals). Names, beds and NEWS2 scores (p1 2, p2 0, p3 4, p4 1,
# p5 3: all low risk) each put them in a different order. p5 is discharged.
PATIENTS: dict[str, tuple[str, str, str, dict[str, Any]]] = {
    "p1": ("Grace Hopper", "W1", "2", vitals(pulse=95, temperature=38.5)),
    "p2": ("Ada Lovelace", "W1", "1", vitals()),
    "p3": ("Edsger Dijkstra", "W2", "1", vitals(respiration_rate=22, pulse=95, temperature=38.5)),
    "p4": ("Alan Turing", "W2", "3", vitals(pulse=95)),
    "p5": ("Barbara Liskov", "W3", "1", vitals(respiration_rate=22, pulse=95)),
}


async def event_id_of(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> str:
    response = await client.post(path, json=body)
    assert response.status_code == 200, response.text
    (event,) = response.json()["events"]
    return str(event["event_id"])


@pytest.fixture
async def board(client: httpx.AsyncClient) -> str:
    """The five patients on the ward-board; the id of the last event written."""
    for patient_id, (name, ward, bed, reading) in PATIENTS.items():
        admit = {"name": name, "ward": ward, "bed": bed}
        await event_id_of(client, f"/entities/patient/{patient_id}/admit", admit)
        await event_id_of(client, f"/entities/patient/{patient_id}/record-vitals", reading)
    return await event_id_of(client, "/entities/patient/p5/discharge", {})


@pytest.fixture
async def alerts(client: httpx.AsyncClient) -> str:
    """Three open alerts (a2 acknowledged); the id of the last event written."""
    raises = {
        "a1": {"ward": "W1", "score": 5, "risk": "medium", "reasons": ["pulse"]},
        "a2": {"ward": "W2", "score": 8, "risk": "high", "reasons": ["spo2", "pulse"]},
        "a3": {"ward": "W1", "score": 3, "risk": "low-medium", "reasons": ["consciousness"]},
    }
    for alert_id, body in raises.items():
        await event_id_of(client, f"/entities/alert/{alert_id}/raise", body)
    return await event_id_of(client, "/entities/alert/a2/acknowledge", {"clinician": "Dr Who"})


async def page(
    client: httpx.AsyncClient, view: str, consistent_with: str, **params: Any
) -> dict[str, Any]:
    response = await client.get(
        f"/views/{view}", params={**params, "consistent_with": consistent_with}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def keys(client: httpx.AsyncClient, view: str, last: str, **params: Any) -> list[str]:
    items = (await page(client, view, last, **params))["items"]
    return [row["patient_id"] for row in items]


def assert_problem(response: httpx.Response, status: int, type_: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert (body["type"], body["status"]) == (type_, status)
    return body


# -- filters ------------------------------------------------------------------------------------
async def test_without_filters_or_sort_every_row_comes_in_key_order(
    client: httpx.AsyncClient, board: str
) -> None:
    assert await keys(client, "ward-board", board) == ["p1", "p2", "p3", "p4", "p5"]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"ward": "W1"}, ["p1", "p2"]),
        ({"status": "discharged"}, ["p5"]),
        ({"ward": "W2", "status": "admitted"}, ["p3", "p4"]),
        ({"ward": "W3", "status": "admitted"}, []),
        ({"risk": "low"}, ["p1", "p2", "p3", "p4", "p5"]),
        ({"risk": "high"}, []),
        ({"ward": "w1"}, []),
    ],
)
async def test_filters_keep_the_rows_whose_columns_equal_every_value(
    client: httpx.AsyncClient, board: str, filters: dict[str, str], expected: list[str]
) -> None:
    assert await keys(client, "ward-board", board, **filters) == expected


async def test_open_alerts_filter_by_ward_risk_and_acknowledging_clinician(
    client: httpx.AsyncClient, alerts: str
) -> None:
    assert await keys(client, "open-alerts", alerts, ward="W1") == ["a1", "a3"]
    assert await keys(client, "open-alerts", alerts, risk="high") == ["a2"]
    assert await keys(client, "open-alerts", alerts, acknowledged_by="Dr Who") == ["a2"]


# -- sort ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("news2_score", ["p2", "p4", "p1", "p5", "p3"]),
        ("-news2_score", ["p3", "p5", "p1", "p4", "p2"]),
        ("name", ["p2", "p4", "p5", "p3", "p1"]),
        ("ward,-bed", ["p1", "p2", "p4", "p3", "p5"]),
        ("-ward,bed", ["p5", "p3", "p4", "p2", "p1"]),
        ("-ward", ["p5", "p3", "p4", "p1", "p2"]),  # ties broken by the key, ascending
        ("-patient_id", ["p5", "p4", "p3", "p2", "p1"]),
    ],
)
async def test_sort_orders_by_each_key_ascending_or_descending(
    client: httpx.AsyncClient, board: str, sort: str, expected: list[str]
) -> None:
    assert await keys(client, "ward-board", board, sort=sort) == expected


async def test_open_alerts_sort_by_score_and_by_time_raised(
    client: httpx.AsyncClient, alerts: str
) -> None:
    assert await keys(client, "open-alerts", alerts, sort="-score") == ["a2", "a1", "a3"]
    assert await keys(client, "open-alerts", alerts, sort="-raised_at") == ["a3", "a2", "a1"]


async def test_open_alerts_sort_by_risk_follows_the_clinical_order(
    client: httpx.AsyncClient, alerts: str
) -> None:
    assert await keys(client, "open-alerts", alerts, sort="-risk_level") == ["a2", "a1", "a3"], (
        "risk_level sorts by clinical severity (risk, as text, would not)"
    )


@pytest.mark.parametrize("sort", ["shoe_size", "-shoe_size", "ward,shoe_size", "status"])
async def test_sorting_by_an_undeclared_column_is_a_422_problem(
    client: httpx.AsyncClient, sort: str
) -> None:
    response = await client.get("/views/ward-board", params={"sort": sort})
    problem = assert_problem(response, 422, "/problems/bad-sort")
    assert repr(sort.split(",")[-1].lstrip("-")) in problem["detail"]


# -- paging -------------------------------------------------------------------------------------
async def test_pages_follow_next_offset_until_it_is_null(
    client: httpx.AsyncClient, board: str
) -> None:
    pages: list[dict[str, Any]] = []
    offset: int | None = 0
    while offset is not None and len(pages) < 10:
        pages.append(
            await page(client, "ward-board", board, sort="news2_score", limit=2, offset=offset)
        )
        offset = pages[-1]["next_offset"]

    assert [p["next_offset"] for p in pages] == [2, 4, None]
    assert [[row["patient_id"] for row in p["items"]] for p in pages] == [
        ["p2", "p4"],
        ["p1", "p5"],
        ["p3"],
    ]


@pytest.mark.parametrize(
    ("limit", "offset", "count", "next_offset"),
    [(5, 0, 5, None), (4, 0, 4, 4), (4, 4, 1, None), (2, 5, 0, None), (2, 100, 0, None)],
)
async def test_next_offset_is_null_exactly_when_no_row_is_left(
    client: httpx.AsyncClient,
    board: str,
    limit: int,
    offset: int,
    count: int,
    next_offset: int | None,
) -> None:
    body = await page(client, "ward-board", board, limit=limit, offset=offset)
    assert (len(body["items"]), body["next_offset"]) == (count, next_offset)


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 1001}, {"offset": -1}])
async def test_limit_or_offset_out_of_range_is_a_422_problem(
    client: httpx.AsyncClient, params: dict[str, int]
) -> None:
    response = await client.get("/views/ward-board", params=params)
    problem = assert_problem(response, 422, "/problems/invalid-request")
    assert [error["location"] for error in problem["errors"]] == ["query"]


# -- one row ------------------------------------------------------------------------------------
async def test_a_row_by_its_key(client: httpx.AsyncClient, board: str) -> None:
    response = await client.get("/views/ward-board/p3", params={"consistent_with": board})
    assert response.status_code == 200, response.text
    row = response.json()
    assert (row["name"], row["ward"], row["bed"], row["status"]) == (
        "Edsger Dijkstra",
        "W2",
        "1",
        "admitted",
    )
    assert (row["news2_score"], row["risk"], row["recent_scores"]) == (4, "low", [4])
    assert row["latest_vitals"] == PATIENTS["p3"][3]


async def test_a_missing_row_is_a_404_problem(client: httpx.AsyncClient, board: str) -> None:
    response = await client.get("/views/ward-board/nobody", params={"consistent_with": board})
    problem = assert_problem(response, 404, "/problems/not-found")
    assert "nobody" in problem["detail"]


# -- read-your-writes ---------------------------------------------------------------------------
async def test_consistent_with_answers_with_the_event_just_written_applied(
    client: httpx.AsyncClient,
) -> None:
    admit = {"name": "Ada Lovelace", "ward": "W1", "bed": "3"}
    await event_id_of(client, "/entities/patient/p1/admit", admit)
    written = await event_id_of(client, "/entities/patient/p1/record-vitals", vitals(pulse=95))

    row = await client.get("/views/ward-board/p1", params={"consistent_with": written})
    assert row.status_code == 200, row.text
    assert (row.json()["news2_score"], row.json()["latest_vitals"]["pulse"]) == (1, 95)
    rows = await page(client, "ward-board", written, ward="W1")
    assert [r["news2_score"] for r in rows["items"]] == [1]


@pytest.mark.parametrize("path", ["/views/ward-board", "/views/ward-board/p1"])
async def test_consistent_with_an_unknown_event_is_a_404_problem(
    client: httpx.AsyncClient, path: str
) -> None:
    unknown = uuid.uuid4()
    response = await client.get(path, params={"consistent_with": str(unknown)})
    problem = assert_problem(response, 404, "/problems/unknown-event")
    assert str(unknown) in problem["detail"]


class TestConsistentWithAPausedView:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return Settings(
            admin_key=ADMIN_KEY, data_dir=tmp_path / "data", view_consistency_timeout_seconds=0.5
        )

    async def test_answers_503_with_retry_after_then_succeeds_once_resumed(
        self, client: httpx.AsyncClient
    ) -> None:
        paused = await client.post("/consumers/ward-board/pause")
        assert paused.json()["state"] == "paused"
        admit = {"name": "Ada Lovelace", "ward": "W1", "bed": "3"}
        admitted = await event_id_of(client, "/entities/patient/p1/admit", admit)

        started = time.monotonic()
        for path in ("/views/ward-board", "/views/ward-board/p1"):
            response = await client.get(path, params={"consistent_with": admitted})
            problem = assert_problem(response, 503, "/problems/view-not-consistent")
            assert response.headers["retry-after"] == "1"
            assert problem["view"] == "ward-board"
        waited = time.monotonic() - started
        assert 1.0 <= waited < 3.0, f"two bounded waits of 0.5 s took {waited:.2f}s"

        await client.post("/consumers/ward-board/resume")
        row = await client.get("/views/ward-board/p1", params={"consistent_with": admitted})
        assert row.status_code == 200, row.text
        assert row.json()["name"] == "Ada Lovelace"


# -- status -------------------------------------------------------------------------------------
async def test_views_lists_the_ward_s_views_with_their_states(client: httpx.AsyncClient) -> None:
    response = await client.get("/views")
    assert response.status_code == 200
    views = {v["name"]: v for v in response.json()}
    assert set(views) == {"ward-board", "open-alerts", "callout-status"}
    assert {views[name]["state"] for name in ("ward-board", "open-alerts")} == {"running"}
    # callout-status reads the outreach team's stream: no outreach in this test
    assert views["callout-status"]["upstream"] == "outreach/callouts"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/views/ward-board", {"wrd": "W1"}),
        ("/views/ward-board", {"name": "Ada"}),  # a column, but not a declared filter
        ("/views/ward-board/p1", {"ward": "W1"}),
    ],
)
async def test_an_unknown_query_parameter_is_a_422_not_a_silent_match_all(
    client: httpx.AsyncClient, board: str, path: str, params: dict[str, str]
) -> None:
    response = await client.get(path, params=params)
    problem = assert_problem(response, 422, "/problems/unknown-parameter")
    assert next(iter(params)) in problem["detail"]
