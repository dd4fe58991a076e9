"""Who may read a public stream, and what a wrong id, cursor or key gets: problem+json with
404 / 400 / 401 / 403 (422 for a cursor that is not a number), never a 5xx; on a WebSocket the
same statuses, refused before the upgrade."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
import websockets
from websockets.exceptions import InvalidStatus

from app.main import create_app
from app.settings import Settings
from tests.support.servers import uvicorn_in_thread
from tests.support.waiting import eventually
from tests.support.ward import ADMIT, DETERIORATING

PROBLEM = "application/problem+json"


async def new_key(http: httpx.AsyncClient, *scopes: str) -> str:
    created = await http.post("/admin/keys", json={"name": "reader", "scopes": list(scopes)})
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def alerts_raised(http: httpx.AsyncClient, patients: int = 1) -> None:
    for n in range(patients):
        assert (await http.post(f"/entities/patient/p{n}/admit", json=ADMIT)).is_success
        vitals = await http.post(f"/entities/patient/p{n}/record-vitals", json=DETERIORATING)
        assert vitals.is_success


async def test_a_key_reads_the_streams_its_scopes_name(client: httpx.AsyncClient) -> None:
    await alerts_raised(client)
    one = await new_key(client, "streams:read:alerts")
    every = await new_key(client, "streams:read")
    other = await new_key(client, "streams:read:callouts")  # a stream the ward does not have
    events = await new_key(client, "events:read")

    for key in (one, every):
        answer = await client.get("/streams/alerts", headers=bearer(key))
        assert answer.status_code == 200, answer.text
        listed = await client.get("/streams", headers=bearer(key))
        assert [s["id"] for s in listed.json()] == ["alerts"]
        types = {t["type"] for t in listed.json()[0]["types"]}
        assert types == {"ward.AlertRaised", "ward.AlertEscalated", "ward.AlertResolved"}
        assert all("properties" in t["schema"] for t in listed.json()[0]["types"])

    for key in (other, events):
        refused = await client.get("/streams/alerts", headers=bearer(key))
        assert refused.status_code == 403, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert "streams:read:alerts" in refused.json()["detail"]
        assert (await client.get("/streams", headers=bearer(key))).status_code == 403

    for headers in ({"Authorization": ""}, bearer("sk_not_a_key_at_all_0123456789")):
        unknown = await client.get("/streams/alerts", headers=headers)
        assert unknown.status_code == 401 and unknown.headers["content-type"] == PROBLEM


async def test_a_wrong_stream_or_cursor_is_a_clear_problem(client: httpx.AsyncClient) -> None:
    await alerts_raised(client)
    head = (await client.get("/streams/alerts")).json()["head"]

    missing = await client.get("/streams/nope")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
    assert "alerts" in missing.json()["detail"]  # it says which streams there are

    ahead = await client.get("/streams/alerts", params={"after": head + 1000})
    assert ahead.status_code == 400 and ahead.json()["type"].endswith("cursor-ahead")

    for bad in ({"after": "-1"}, {"after": "seven"}, {"limit": "0"}, {"limit": "5001"}):
        refused = await client.get("/streams/alerts", params=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert refused.headers["content-type"] == PROBLEM


async def test_pages_resume_from_their_cursor_and_a_long_poll_answers_when_the_log_moves(
    client: httpx.AsyncClient,
) -> None:
    await alerts_raised(client, patients=5)

    async def all_five() -> dict | None:  # the vitals monitor raises them as it goes
        page = (await client.get("/streams/alerts", params={"after": 0})).json()
        return page if len(page["events"]) == 5 else None

    whole = await eventually(all_five, 15, "five alerts on the stream")

    seen, after = [], 0
    while after < whole["head"]:
        page = (await client.get("/streams/alerts", params={"after": after, "limit": 2})).json()
        seen += page["events"]
        assert page["next_after"] > after
        after = page["next_after"]
    assert [e["id"] for e in seen] == [e["id"] for e in whole["events"]]
    assert [e["seq"] for e in seen] == sorted(e["seq"] for e in seen)

    waiting = asyncio.create_task(
        client.get("/streams/alerts", params={"after": whole["head"], "wait": 10})
    )
    await asyncio.sleep(0.3)
    assert not waiting.done()  # nothing new: the producer holds the request
    await alerts_raised_for(client, "p-late")
    answer = (await asyncio.wait_for(waiting, 5)).json()
    assert answer["next_after"] > whole["head"]


async def test_ranges_of_seqs_tile_the_stream_as_a_reader_asks_for_them_ahead(
    client: httpx.AsyncClient,
) -> None:
    """A subscription behind the head asks for several ``upto`` ranges at once; each must end
    exactly at its ``upto`` (filtered events included) so the next begins where it ends."""
    await alerts_raised(client, patients=4)

    async def all_four() -> dict | None:
        page = (await client.get("/streams/alerts", params={"after": 0})).json()
        return page if len(page["events"]) == 4 else None

    whole = await eventually(all_four, 15, "four alerts on the stream")
    for size in (1, 2, 3, 7):
        ranges = [(a, min(a + size, whole["head"])) for a in range(0, whole["head"], size)]
        pages = await asyncio.gather(
            *(
                client.get("/streams/alerts", params={"after": a, "upto": b, "limit": size})
                for a, b in ranges
            )
        )
        tiled = [page.json() for page in pages]
        assert [page["next_after"] for page in tiled] == [b for _, b in ranges]
        ids = [event["id"] for page in tiled for event in page["events"]]
        assert ids == [event["id"] for event in whole["events"]]


async def alerts_raised_for(http: httpx.AsyncClient, patient: str) -> None:
    await http.post(f"/entities/patient/{patient}/admit", json=ADMIT)
    await http.post(f"/entities/patient/{patient}/record-vitals", json=DETERIORATING)


@pytest.mark.parametrize(
    ("path", "scopes", "status"),
    [
        ("/ws/streams/alerts", None, 401),
        ("/ws/streams/alerts", ("events:read",), 403),
        ("/ws/streams/nope", ("streams:read",), 404),
        ("/ws/streams/alerts?after=999999", ("streams:read:alerts",), 400),
        ("/ws/streams/alerts?after=-3", ("streams:read:alerts",), 400),  # as /ws/events
    ],
)
async def test_a_websocket_is_refused_before_the_upgrade(
    settings: Settings,
    database_url: str,
    tmp_path: Path,
    path: str,
    scopes: tuple[str, ...] | None,
    status: int,
) -> None:
    app = create_app(settings, database_url=database_url)
    with uvicorn_in_thread(app) as base:
        async with httpx.AsyncClient(base_url=base, headers=admin()) as http:
            headers = bearer(await new_key(http, *scopes)) if scopes else {}
        url = base.replace("http://", "ws://") + path
        with pytest.raises(InvalidStatus) as refused:
            async with websockets.connect(url, additional_headers=headers):
                pass
    assert refused.value.response.status_code == status
    assert refused.value.response.headers["content-type"] == PROBLEM


async def test_a_websocket_catches_up_then_goes_live_with_public_events_only(
    settings: Settings, database_url: str
) -> None:
    app = create_app(settings, database_url=database_url)
    with uvicorn_in_thread(app) as base:
        async with httpx.AsyncClient(base_url=base, headers=admin()) as http:
            await alerts_raised(http, patients=3)
            key = await new_key(http, "streams:read:alerts")
            url = base.replace("http://", "ws://") + "/ws/streams/alerts?after=0"
            async with websockets.connect(url, additional_headers=bearer(key)) as socket:
                caught_up = [await _event(socket) for _ in range(3)]
                await alerts_raised_for(http, "p-live")
                live = await _event(socket)
    assert [e["type"] for e in caught_up] == ["ward.AlertRaised"] * 3
    assert (live["type"], live["subject"]) == ("ward.AlertRaised", "p-live")
    assert [e["seq"] for e in caught_up] == sorted(e["seq"] for e in caught_up)


async def _event(socket: websockets.ClientConnection) -> dict:
    import json

    while True:
        message = json.loads(await asyncio.wait_for(socket.recv(), 10))
        if "seq" in message and "type" in message and "specversion" in message:
            return message


def admin() -> dict[str, str]:
    from tests.support.auth import AUTH_HEADERS

    return AUTH_HEADERS


async def test_the_asyncapi_document_has_a_channel_per_stream_and_a_message_per_type(
    client: httpx.AsyncClient,
) -> None:
    from app.services.ward.streams import PublicAlertRaised

    reader = await new_key(client, "streams:read:alerts")
    document = (await client.get("/asyncapi.json", headers=bearer(reader))).json()
    assert document["asyncapi"].startswith("3.")
    channel = document["channels"]["stream-alerts"]
    assert channel["address"] == "/ws/streams/alerts"
    assert "streams:read:alerts" in channel["description"]
    assert set(channel["messages"]) == {
        "ward.AlertRaised.v1",
        "ward.AlertEscalated.v1",
        "ward.AlertResolved.v1",
    }
    raised = document["components"]["messages"]["ward.AlertRaised.v1"]["payload"]
    assert raised["properties"]["data"] == PublicAlertRaised.model_json_schema()
    assert raised["properties"]["type"] == {"const": "ward.AlertRaised"}
    assert document["operations"]["receive-alerts"]["action"] == "receive"
