"""Public events evolve apart from private ones: the producer's internal event is renamed,
gains a field and becomes v2 with an upcaster, and its public stream does not change; a
public type the consumer does not know pins its view (until skipped) or, with
ignore_unknown, is passed over; fields a consumer's copy does not declare are not read."""

from __future__ import annotations

from pathlib import Path

import httpx

from app.main import create_app
from app.settings import Settings
from tests.support.auth import ADMIN_KEY, AUTH_HEADERS
from tests.support.servers import free_port, uvicorn_in_thread
from tests.support.shop import desk, shop_v1, shop_v2
from tests.support.system import stream_key
from tests.support.waiting import eventually

STABLE = ("id", "seq", "type", "subject", "source", "schemaversion", "data")


def client(app) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://shop.test", headers=AUTH_HEADERS
    )


def public(page: dict) -> list[dict]:
    return [{k: event.get(k) for k in STABLE} for event in page["events"]]


async def test_the_producer_s_internal_event_changes_and_its_stream_does_not(
    settings: Settings, database_url: str
) -> None:
    v1 = create_app(settings, service=shop_v1, database_url=database_url)
    async with v1.router.lifespan_context(v1), client(v1) as http:
        for order, item in (("o1", "tea"), ("o2", "cake")):
            placed = await http.post(
                f"/entities/order/{order}/place", json={"item": item, "qty": 2}
            )
            assert placed.status_code == 200, placed.text
        before = await eventually(lambda: _page_of(http, 2), 15, "two orders on the stream")

    v2 = create_app(settings, service=shop_v2, database_url=database_url)
    async with v2.router.lifespan_context(v2), client(v2) as http:
        after = await _page_of(http, 2)
        assert after is not None and public(after) == public(before)
        body = {"product": "scone", "quantity": 3, "gift_wrap": True}
        assert (await http.post("/entities/order/o3/place", json=body)).status_code == 200
        newest = await eventually(lambda: _page_of(http, 3), 15, "the v2 order on the stream")
    assert public(newest)[:2] == public(before)
    assert newest["events"][2]["type"] == "shop.OrderPlaced"
    assert newest["events"][2]["data"] == {"item": "scone", "qty": 3}  # nothing private leaks


async def _page_of(http: httpx.AsyncClient, count: int) -> dict | None:
    page = (await http.get("/streams/orders", params={"after": 0})).json()
    return page if len(page["events"]) >= count else None


async def test_an_unknown_public_type_pins_a_strict_view_until_skipped_and_a_lenient_one_passes(
    tmp_path: Path, database_url: str, outreach_database_url: str
) -> None:
    shop = create_app(
        Settings(data_dir=tmp_path / "shop", admin_key=ADMIN_KEY),
        service=shop_v2,
        database_url=database_url,
    )
    port = free_port()
    key = stream_key(database_url, "desk", ("streams:read:orders",))
    desk_settings = Settings(
        data_dir=tmp_path / "desk",
        admin_key=ADMIN_KEY,
        upstreams={"shop": {"url": f"http://127.0.0.1:{port}", "key": key}},
        consumer_backoff_max_seconds=0.5,
    )
    consumer = create_app(desk_settings, service=desk, database_url=outreach_database_url)
    with uvicorn_in_thread(shop, port) as shop_url:
        async with httpx.AsyncClient(base_url=shop_url, headers=AUTH_HEADERS) as producer:
            body = {"product": "tea", "quantity": 1}
            await producer.post("/entities/order/o1/place", json=body)
            await producer.post("/entities/order/o1/cancel", json={})
            await producer.post("/entities/order/o2/place", json=body)
            cancel_seq = (await producer.get("/streams/orders")).json()["events"][1]["seq"]

        async with consumer.router.lifespan_context(consumer), client(consumer) as http:

            async def pinned() -> dict | None:
                status = (await http.get("/consumers/strict-orders")).json()
                return status if status["state"] == "failing" else None

            stuck = await eventually(pinned, 15, "strict-orders pinned")
            assert stuck["failing_seq"] == cancel_seq
            assert "shop.OrderCancelled" in stuck["error"]
            assert (await http.get("/views/strict-orders/o1")).json()["seen"] == 1
            assert (await http.get("/views/strict-orders/o2")).status_code == 404

            lenient = await _row(http, "lenient-orders", "o2")
            assert lenient == {"order_id": "o2", "item": "tea", "seen": 1}

            skipped = await http.post("/consumers/strict-orders/skip")
            assert skipped.status_code == 200, skipped.text
            assert (await _row(http, "strict-orders", "o2"))["seen"] == 1
            status = (await http.get("/consumers/strict-orders")).json()
            assert (status["state"], status["parked"]) == ("running", 1)


async def _row(http: httpx.AsyncClient, view: str, key: str) -> dict:
    async def there() -> dict | None:
        answer = await http.get(f"/views/{view}/{key}")
        return answer.json() if answer.status_code == 200 else None

    return await eventually(there, 15, f"{view}/{key}")
