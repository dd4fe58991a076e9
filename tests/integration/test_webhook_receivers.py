"""The webhook sender against real receivers — uvicorn (httptools and h11), aiohttp and
http.server — answering the statuses and framings receivers use: every answer is read to its
end as its server meant it, and kept-alive connections serve the next POST."""

from __future__ import annotations

import uuid

import pytest

from app.webhooks.http1 import Http1Pool
from app.webhooks.sender import Attempt, new_client, send
from tests.support.real_receivers import RECEIVERS, http_server_receiver

# kind -> (status, body kept, Retry-After, metric label, whether the connection serves again)
EXPECTED: dict[str, tuple[int, str, str | None, str, bool]] = {
    "ok": (200, '{"ok":true}', None, "success", True),
    "created": (201, '{"id":1}', None, "success", True),
    "accepted": (202, "", None, "success", True),
    "no-content": (204, "", None, "success", True),
    "moved": (302, "", None, "http_3xx", True),
    "gone": (410, "gone", None, "gone", True),
    "slow-down": (429, "slow down", "2", "http_4xx", True),
    "chunked": (200, "a" * 700 + "b" * 324, None, "success", True),  # the first KiB
    "close": (200, "bye", None, "success", False),
}
# Bodies that run to the connection's end: only http.server writes them.
TO_THE_END = {
    "to-the-end": (200, "all of it", None, "success", False),
    "no-length-close": (200, "all of it", None, "success", False),
}


async def attempt(client: Http1Pool, url: str) -> Attempt:
    # Well under uvicorn's and aiohttp's keep-alive timeouts (5 s and 75 s), so an answer read
    # "to the connection's end" when it has no body shows as a timeout, not a late success.
    return await send(
        client,
        url=url,
        message_id=str(uuid.uuid4()),
        body=b'{"type":"patient.PatientAdmitted"}',
        secrets=["whsec_" + "A" * 32],
        within=3.0,
        allow_private=True,
    )


def summary(answer: Attempt) -> tuple[int | None, str | None, str | None, str]:
    return answer.status_code, answer.body, answer.retry_after, answer.outcome()


@pytest.mark.parametrize("kind", EXPECTED)
@pytest.mark.parametrize("server", RECEIVERS)
async def test_a_real_receivers_answer_is_read_and_its_connection_kept_when_it_may_be(
    server: str, kind: str
) -> None:
    status, body, retry_after, outcome, kept = EXPECTED[kind]
    client = new_client(2)
    async with RECEIVERS[server]() as receiver:
        try:
            first = await attempt(client, f"{receiver.base_url}/{kind}")
            second = await attempt(client, f"{receiver.base_url}/{kind}")
        finally:
            await client.close()
    assert summary(first) == summary(second) == (status, body, retry_after, outcome), first
    assert receiver.paths == [f"/{kind}"] * 2, "each POST is sent once"
    first_port, second_port = receiver.client_ports
    assert (first_port == second_port) is kept, (
        "the second POST went over the first's connection"
        if not kept
        else "the kept-alive connection was not reused"
    )


@pytest.mark.parametrize("kind", TO_THE_END)
async def test_a_body_that_runs_to_the_connections_end_is_read_to_it(kind: str) -> None:
    status, body, retry_after, outcome, _ = TO_THE_END[kind]
    client = new_client(2)
    async with http_server_receiver() as receiver:
        try:
            answers = [await attempt(client, f"{receiver.base_url}/{kind}") for _ in range(2)]
        finally:
            await client.close()
    for answer in answers:
        assert summary(answer) == (status, body, retry_after, outcome), answer
    assert len(set(receiver.client_ports)) == 2, "a connection that ended was used again"
