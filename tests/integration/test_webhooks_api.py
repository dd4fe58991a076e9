"""The webhook API: subscriptions, their secrets, filters and deliveries, and the URL guard."""

from __future__ import annotations

import asyncio
import base64
import uuid
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from tests.support.webhooks import (
    WebhookReceiver,
    admit,
    all_sent,
    deliveries,
    eventually,
    log_events,
    record_vitals,
    seq_of,
    signatures,
    subscribe,
    verifies,
    verify,
    webhook,
    webhook_settings,
)

GRACE_SECONDS = 2.0


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return webhook_settings(tmp_path, webhook_secret_grace_seconds=GRACE_SECONDS)


def assert_problem(response: httpx.Response, status: int, slug: str | None = None) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = dict(response.json())
    assert problem["status"] == status
    if slug is not None:
        assert problem["type"] == f"/problems/{slug}", problem
    return problem


# -- subscriptions ------------------------------------------------------------------------------
async def test_the_secret_is_shown_at_creation_only(client: httpx.AsyncClient) -> None:
    created = await subscribe(
        client,
        "http://127.0.0.1:9/hook",
        event_types=["patient.*", "alert.AlertRaised", "patient.*"],
        description="pager",
        ordered=True,
    )
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) >= 24
    assert created["event_types"] == ["alert.AlertRaised", "patient.*"]
    assert created["description"] == "pager"
    assert (created["enabled"], created["ordered"]) == (True, True)
    assert (created["pending"], created["failed"], created["after_seq"]) == (0, 0, 0)
    assert created["disabled_reason"] is None

    one = await client.get(f"/webhooks/{created['id']}")
    every = await client.get("/webhooks")
    for response in (one, every):
        assert response.status_code == 200
        assert '"secret"' not in response.text, "a read shows the secret"
        assert secret.removeprefix("whsec_") not in response.text
    assert [hook["id"] for hook in every.json()] == [created["id"]]
    assert {k: v for k, v in created.items() if k != "secret"} == one.json()


async def test_patch_changes_only_what_it_names(client: httpx.AsyncClient) -> None:
    created = await subscribe(client, "http://127.0.0.1:9/hook", description="first")
    response = await client.patch(
        f"/webhooks/{created['id']}",
        json={"event_types": ["alert.*"], "enabled": False, "ordered": True},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["event_types"] == ["alert.*"]
    assert (changed["enabled"], changed["ordered"]) == (False, True)
    assert changed["description"] == "first"
    assert changed["url"] == "http://127.0.0.1:9/hook"
    assert changed["updated_at"] >= created["updated_at"]
    response = await client.patch(
        f"/webhooks/{created['id']}", json={"url": "http://127.0.0.1:10/other", "enabled": True}
    )
    assert response.status_code == 200, response.text
    assert (response.json()["url"], response.json()["enabled"]) == (
        "http://127.0.0.1:10/other",
        True,
    )
    assert await webhook(client, created["id"]) == response.json()


async def test_delete_answers_204_then_404(client: httpx.AsyncClient) -> None:
    kept = await subscribe(client, "http://127.0.0.1:9/kept")
    gone = await subscribe(client, "http://127.0.0.1:9/gone")
    response = await client.delete(f"/webhooks/{gone['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert_problem(await client.get(f"/webhooks/{gone['id']}"), 404, "not-found")
    assert_problem(await client.delete(f"/webhooks/{gone['id']}"), 404, "not-found")
    assert [hook["id"] for hook in (await client.get("/webhooks")).json()] == [kept["id"]]


async def test_an_unknown_webhook_is_404_everywhere(client: httpx.AsyncClient) -> None:
    path = f"/webhooks/{uuid.uuid4()}"
    for method, url in [
        ("GET", path),
        ("PATCH", path),
        ("DELETE", path),
        ("POST", f"{path}/rotate-secret"),
        ("GET", f"{path}/deliveries"),
        ("POST", f"{path}/deliveries/1/retry"),
        ("POST", f"{path}/replay?after=0"),
        ("POST", f"{path}/test"),
    ]:
        body = {"description": "x"} if method == "PATCH" else None
        response = await client.request(method, url, json=body)
        assert_problem(response, 404, "not-found")
    assert_problem(await client.get("/webhooks/not-a-uuid"), 422, "invalid-request")


BAD_EVENT_TYPES = ["patient", "patient.", "*.AlertRaised", "patient.Vitals*", "a b.c", "a.b.c"]


async def test_a_bad_event_type_pattern_is_refused(client: httpx.AsyncClient) -> None:
    created = await subscribe(client, "http://127.0.0.1:9/hook")
    for bad in BAD_EVENT_TYPES:
        body = {"url": "http://127.0.0.1:9/hook", "event_types": ["alert.*", bad]}
        problem = assert_problem(await client.post("/webhooks", json=body), 422, "bad-event-type")
        assert bad in problem["detail"]
        response = await client.patch(f"/webhooks/{created['id']}", json={"event_types": [bad]})
        assert_problem(response, 422, "bad-event-type")
    assert [hook["id"] for hook in (await client.get("/webhooks")).json()] == [created["id"]]
    assert (await webhook(client, created["id"]))["event_types"] == []


INVALID_BODIES = [
    {"url": "http://127.0.0.1:9/hook", "secret": "whsec_mine"},  # unknown field
    {"event_types": ["*"]},  # no url
    {"url": ""},
    {"url": "http://127.0.0.1:9/hook", "event_types": "*"},
    {"url": "http://127.0.0.1:9/hook", "enabled": "sometimes"},
]


async def test_an_invalid_body_is_a_422_problem_naming_the_field(
    client: httpx.AsyncClient,
) -> None:
    for body in INVALID_BODIES:
        response = await client.post("/webhooks", json=body)
        problem = assert_problem(response, 422, "invalid-request")
        assert problem["errors"], body
        assert all(error["location"] == "body" for error in problem["errors"]), problem
    assert (await client.get("/webhooks")).json() == []


async def test_patch_with_an_unknown_field_is_refused(client: httpx.AsyncClient) -> None:
    created = await subscribe(client, "http://127.0.0.1:9/hook")
    response = await client.patch(f"/webhooks/{created['id']}", json={"secret": "whsec_x"})
    problem = assert_problem(response, 422, "invalid-request")
    assert problem["errors"][0]["pointer"] == "#/secret"


# -- what a subscription receives ---------------------------------------------------------------
FILTERS: dict[str, list[str]] = {
    "patient-prefix": ["patient.*"],
    "admissions": ["patient.PatientAdmitted"],
    "star": ["*"],
    "empty": [],
    "alert-prefix": ["alert.*"],
    "raised": ["alert.AlertRaised"],
    "two": ["patient.PatientAdmitted", "alert.*"],
}


def wanted(filter_: list[str], event_type: str) -> bool:
    return not filter_ or any(
        p == "*" or p == event_type or (p.endswith(".*") and event_type.startswith(p[:-1]))
        for p in filter_
    )


async def test_event_type_filters_choose_what_each_subscription_receives(
    client: httpx.AsyncClient,
) -> None:
    async with WebhookReceiver() as receiver:
        for name, types in FILTERS.items():
            await subscribe(client, f"{receiver.url}?s={name}", event_types=types)
        await admit(client, "p1")
        await record_vitals(client, "p1")
        await record_vitals(client, "p1", alarming=True)  # the monitor raises an alert

        async def alert_raised() -> list[dict]:
            events = await log_events(client)
            return events if any(e["type"] == "alert.AlertRaised" for e in events) else []

        events = await eventually(alert_raised, 15, "the vitals monitor's alert")
        types = {e["type"] for e in events}
        assert {"patient.PatientAdmitted", "patient.VitalsRecorded", "alert.AlertRaised"} <= types
        expected = {
            name: {e["id"] for e in events if wanted(types_, e["type"])}
            for name, types_ in FILTERS.items()
        }

        def received(name: str) -> set[str]:
            return {r.headers["webhook-id"] for r in receiver.delivered(f"/hook?s={name}")}

        await eventually(
            lambda: all(received(name) >= ids for name, ids in expected.items()),
            15,
            "every subscription's events",
        )
        await all_sent(client)  # nothing else is on its way
        assert await log_events(client) == events, "the log grew while the test looked"
        for name, ids in expected.items():
            assert received(name) == ids, name
            bodies = [r.json() for r in receiver.at(f"/hook?s={name}")]
            assert all(wanted(FILTERS[name], body["type"]) for body in bodies), name
        assert len(receiver.requests) == sum(map(len, expected.values())), "duplicates"


async def test_a_new_subscription_receives_only_later_events(client: httpx.AsyncClient) -> None:
    old_seq = await seq_of(client, await admit(client, "before"))
    async with WebhookReceiver() as receiver:
        created = await subscribe(client, receiver.url)
        assert created["after_seq"] == old_seq
        later = await admit(client, "after")
        await eventually(lambda: receiver.delivered(), 10, "the later event")
        await all_sent(client)  # nothing else is on its way
        assert [r.headers["webhook-id"] for r in receiver.requests] == [later]
        assert receiver.requests[0].json()["subject"] == "after"
        assert [d["event_id"] for d in await deliveries(client, created["id"])] == [later]


async def test_the_test_endpoint_sends_a_signed_ping(client: httpx.AsyncClient) -> None:
    async with WebhookReceiver() as receiver:
        created = await subscribe(client, receiver.url, event_types=["alert.*"])
        response = await client.post(f"/webhooks/{created['id']}/test")
        assert response.status_code == 202, response.text
        queued = response.json()
        assert queued["queued"] == 1
        await eventually(lambda: receiver.delivered(), 10, "the ping")
        (ping,) = receiver.requests
        body = verify(created["secret"], ping)
        assert body["type"] == "sluice.ping"
        assert body["data"] == {"webhook_id": created["id"]}
        assert ping.headers["webhook-id"] == body["id"]
        assert ping.headers["content-type"] == "application/json"

        async def listed() -> list[dict]:
            found = await deliveries(client, created["id"], status="succeeded")
            return found

        (delivery,) = await eventually(listed, 10, "the ping's delivery to be recorded")
        assert delivery["id"] == queued["delivery_id"]
        assert (delivery["seq"], delivery["event_type"]) == (None, "sluice.ping")
        assert delivery["event_id"] == body["id"]
        assert [a["status_code"] for a in delivery["attempt_log"]] == [200]


async def test_after_a_rotation_both_secrets_sign_until_the_grace_period_ends(
    client: httpx.AsyncClient,
) -> None:
    async with WebhookReceiver() as receiver:
        created = await subscribe(client, receiver.url)
        old = created["secret"]
        response = await client.post(f"/webhooks/{created['id']}/rotate-secret")
        assert response.status_code == 200, response.text
        rotated = response.json()
        new = rotated["secret"]
        assert new.startswith("whsec_") and new != old
        shown = (await webhook(client, created["id"]))["previous_secret_expires_at"]
        assert shown == rotated["previous_secret_expires_at"]

        async def ping() -> None:
            count = len(receiver.requests)
            response = await client.post(f"/webhooks/{created['id']}/test")
            assert response.status_code == 202, response.text
            await eventually(lambda: len(receiver.delivered()) > count, 10, "a ping")

        await ping()  # during the grace period
        during = receiver.requests[-1]
        assert len(signatures(during)) == 2, during.headers["webhook-signature"]
        assert verifies(new, during) and verifies(old, during)

        await asyncio.sleep(GRACE_SECONDS + 0.3)
        await ping()  # after it
        after = receiver.requests[-1]
        assert verifies(new, after)
        assert not verifies(old, after), (
            f"the rotated-out secret still signs {GRACE_SECONDS + 0.3:g}s after a "
            f"{GRACE_SECONDS:g}s grace period: {after.headers['webhook-signature']}"
        )
        assert len(signatures(after)) == 1


async def test_deliveries_are_listed_newest_first_in_pages(client: httpx.AsyncClient) -> None:
    async with WebhookReceiver() as receiver:
        created = await subscribe(client, receiver.url)
        event_ids = [await admit(client, f"p{n}") for n in range(5)]
        await eventually(lambda: len(receiver.delivered()) == 5, 10, "five deliveries")

        async def all_succeeded() -> list[dict]:
            found = await deliveries(client, created["id"], status="succeeded")
            return found if len(found) == 5 else []

        listed = await eventually(all_succeeded, 10, "five recorded deliveries")
        assert [d["event_id"] for d in listed] == event_ids[::-1]
        assert [d["seq"] for d in listed] == sorted((d["seq"] for d in listed), reverse=True)
        pages, before = [], None
        while True:
            params = {"limit": 2, **({"before": before} if before else {})}
            response = await client.get(f"/webhooks/{created['id']}/deliveries", params=params)
            page = response.json()
            pages.append([d["id"] for d in page["deliveries"]])
            before = page["next_before"]
            if before is None:
                break
        assert pages == [[d["id"] for d in listed][i : i + 2] for i in (0, 2, 4)]
        assert await deliveries(client, created["id"], status="failed") == []
        assert await deliveries(client, created["id"], status="pending") == []
        response = await client.get(f"/webhooks/{created['id']}/deliveries?status=bogus")
        assert_problem(response, 422, "invalid-request")
        response = await client.get(f"/webhooks/{created['id']}/deliveries?limit=0")
        assert_problem(response, 422, "invalid-request")


# -- the URL guard ------------------------------------------------------------------------------
FORBIDDEN = [
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://10.1.2.3/",
    "http://169.254.169.254/",
    "http://[::ffff:127.0.0.1]/",
    "http://localhost/",
    "https://127.0.0.1/",
    "https://[::1]/",
    "https://10.1.2.3/",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::ffff:127.0.0.1]/",
    "https://localhost/",
    "https://127.0.0.1:8443/hook",
    "https://[fe80::1]/",
    "https://192.168.0.10/",
    "https://0.0.0.0/",
    "https://2130706433/",  # 127.0.0.1 spelled as one number
    "http://93.184.216.34/",  # public, but plain http
    "ftp://93.184.216.34/",
    "https://user:password@93.184.216.34/",
]


class TestPrivateTargetsRefused:
    @pytest.fixture
    def settings(self, tmp_path: Path) -> Settings:
        return webhook_settings(tmp_path, webhook_allow_private=False)

    async def test_every_forbidden_url_is_refused_at_creation(
        self, client: httpx.AsyncClient
    ) -> None:
        accepted = {}
        for url in FORBIDDEN:
            response = await client.post("/webhooks", json={"url": url})
            if response.status_code != 422:
                accepted[url] = response.status_code
                continue
            problem = assert_problem(response, 422, "forbidden-url")
            assert problem["detail"], url
        assert accepted == {}, f"forbidden URLs were not refused: {accepted}"
        assert (await client.get("/webhooks")).json() == []

    async def test_a_forbidden_url_is_refused_by_patch(self, client: httpx.AsyncClient) -> None:
        created = await subscribe(client, "https://93.184.216.34/hook")  # public: allowed
        for url in FORBIDDEN:
            response = await client.patch(f"/webhooks/{created['id']}", json={"url": url})
            assert_problem(response, 422, "forbidden-url")
        assert (await webhook(client, created["id"]))["url"] == "https://93.184.216.34/hook"

    async def test_the_reason_is_given(self, client: httpx.AsyncClient) -> None:
        reasons = {
            "https://127.0.0.1/": "loopback",
            "https://[::ffff:127.0.0.1]/": "loopback",
            "https://localhost/": "loopback",
            "https://10.1.2.3/": "private",
            "http://93.184.216.34/": "https",
        }
        for url, reason in reasons.items():
            response = await client.post("/webhooks", json={"url": url})
            assert reason in assert_problem(response, 422, "forbidden-url")["detail"], url
