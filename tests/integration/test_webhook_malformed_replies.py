"""Answers no HTTP library would write, from a raw socket receiver: each one comes back from
the sender as a clear error Attempt with a fixed metric label, never as an exception (which the
pump could only log, leaving the delivery leased, unrecorded, and sent again forever), and
what is recorded of it is text PostgreSQL accepts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import psycopg
import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from psycopg_pool import AsyncConnectionPool

from app.observe.metrics import WEBHOOK_OUTCOMES
from app.webhooks import sender, urlguard
from app.webhooks.deliveries import Claimed, Deliveries, Result
from app.webhooks.schedule import parse_retry_after
from app.webhooks.sender import Attempt, new_client, send
from tests.support.receiver import Receiver

CHUNKED = b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"

# Each: what the receiver writes, and a few words the error must carry.
MALFORMED = {
    "negative-chunk-size": (CHUNKED + b"-5\r\nhello\r\n0\r\n\r\n", "chunk"),
    "70-KB-chunk-size-line": (CHUNKED + b"1" * 70_000 + b"\r\n", ""),
    "endless-chunk-size-line": (CHUNKED + b"1" * 70_000, "chunk size"),
    "superscript-digit-in-status": (
        b"HTTP/1.1 2\xc2\xb20 OK\r\ncontent-length: 0\r\n\r\n",
        "status",
    ),
    "12-digit-status": (b"HTTP/1.1 200000000000 OK\r\ncontent-length: 0\r\n\r\n", "status"),
    "status-below-100": (b"HTTP/1.1 099 Odd\r\ncontent-length: 0\r\n\r\n", "99"),
    "101-never-asked-for": (b"HTTP/1.1 101 Switching Protocols\r\nupgrade: x\r\n\r\n", ""),
    "not-http": (b"SSH-2.0-OpenSSH_9.6\r\n\r\n", "HTTP/"),
    "bad-content-length": (b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", "Content-Length"),
    "conflicting-content-lengths": (
        b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\ncontent-length: 2\r\n\r\nab",
        "Content-Length",
    ),
    "200-KB-head": (b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 200_000 + b"\r\n\r\n", "too long"),
    "header-without-colon": (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "header"),
}


async def attempt(url: str, within: float = 5.0) -> Attempt:
    client = new_client(2)
    try:
        return await send(
            client,
            url=url,
            message_id=str(uuid.uuid4()),
            body=b'{"a":1}',
            secrets=["whsec_" + "A" * 32],
            within=within,
            allow_private=True,
        )
    finally:
        await client.close()


@pytest.mark.parametrize("case", MALFORMED)
async def test_an_answer_that_is_not_http_is_a_protocol_error_answer(case: str) -> None:
    reply, words = MALFORMED[case]
    async with Receiver(plan=lambda request: reply) as receiver:
        answer = await attempt(receiver.url)
    assert (answer.status_code, answer.body, answer.failure) == (None, None, "protocol_error")
    assert answer.error is not None and answer.error.startswith("the answer is not HTTP/1.1")
    assert words.lower() in answer.error.lower()
    assert answer.outcome() == "protocol_error" and answer.outcome() in WEBHOOK_OUTCOMES
    assert len(receiver.requests) == 1, "sent once, never again on another connection"


async def test_a_coding_other_than_chunked_runs_the_body_to_the_connections_end() -> None:
    """RFC 9112 §6.3: a response whose last transfer coding is not chunked is read until
    the server closes; that is an answer (here a 200), not a protocol error."""
    reply = b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip\r\n\r\nxyz"
    async with Receiver(plan=lambda request: reply) as receiver:
        answer = await attempt(receiver.url)
    assert (answer.status_code, answer.body, answer.failure) == (200, "xyz", None)


async def test_an_answer_cut_short_by_the_receiver_is_a_connection_error() -> None:
    cut = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly this"
    async with Receiver(plan=lambda request: cut) as receiver:
        answer = await attempt(receiver.url)
    assert (answer.status_code, answer.failure) == (None, "connection_error")
    assert answer.error is not None and "closed the connection" in answer.error


@pytest.mark.parametrize("status", [600, 999, 299])
async def test_an_unusual_status_keeps_the_metric_label_in_its_fixed_set(status: int) -> None:
    reply = f"HTTP/1.1 {status} Odd\r\ncontent-length: 0\r\n\r\n".encode()
    async with Receiver(plan=lambda request: reply) as receiver:
        answer = await attempt(receiver.url)
    assert answer.status_code == status
    assert answer.outcome() == ("success" if status < 300 else "other")


async def test_a_retry_after_that_is_no_number_comes_back_as_text_and_parses_to_nothing() -> None:
    reply = b"HTTP/1.1 429 Slow Down\r\nretry-after: \xb2\r\ncontent-length: 0\r\n\r\n"
    async with Receiver(plan=lambda request: reply) as receiver:
        answer = await attempt(receiver.url)
    assert (answer.status_code, answer.retry_after) == (429, "²")
    assert parse_retry_after(answer.retry_after) is None  # "²".isdigit(), yet float("²") fails


@given(st.text())
@example("\u00b2")  # "²".isdigit() is true, float("²") raises
def test_parse_retry_after_never_raises(value: str) -> None:
    seconds = parse_retry_after(value, now=datetime(2026, 1, 1, tzinfo=UTC))
    assert seconds is None or seconds >= 0


@pytest.mark.parametrize(
    "value", ["Mon, 01 Jan 2024 00:00:00 +99999999999999999999", "9" * 400, "١٢"]
)
def test_parse_retry_after_ignores_absurd_values(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or seconds <= 24 * 3600


async def test_a_2xx_body_with_a_nul_byte_comes_back_whole() -> None:
    reply = b"HTTP/1.1 200 OK\r\ncontent-length: 7\r\n\r\nok\x00 \xff!!"
    async with Receiver(plan=lambda request: reply) as receiver:
        answer = await attempt(receiver.url)
    assert (answer.status_code, answer.body) == (200, "ok\x00 \ufffd!!")


async def test_a_path_outside_latin_1_is_sent_percent_encoded() -> None:
    async with Receiver() as receiver:
        answer = await attempt(f"{receiver.url}/\u2603/%41?q=\u00e9t\u00e9&r=\x7f")
    assert answer.status_code == 200, answer
    assert receiver.requests[0].path == "/hook/%E2%98%83/%41?q=%C3%A9t%C3%A9&r=%7F"


async def test_an_internationalised_host_goes_out_in_its_ascii_form(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with Receiver() as receiver:
        url = f"http://\u2603.test:{receiver.port}/hook"

        async def resolved(url: str, *, allow_private: bool) -> urlguard.CheckedURL:
            return urlguard.CheckedURL(url, "\u2603.test", "127.0.0.1", url)

        monkeypatch.setattr(sender, "resolve", resolved)  # as if its DNS said 127.0.0.1
        answer = await attempt(url)
    assert answer.status_code == 200, answer
    assert receiver.requests[0].headers["host"] == f"xn--n3h.test:{receiver.port}"


async def test_record_stores_a_receivers_nul_bytes_and_lone_surrogates(database_url: str) -> None:
    """One refused value fails the whole batch's statement: every delivery in it would be
    sent again, unrecorded. PostgreSQL's text and jsonb refuse NUL and lone surrogates."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        webhook_id = conn.execute(
            "INSERT INTO webhooks (id, url, event_types, enabled, ordered, secret, after_seq)"
            " VALUES (gen_random_uuid(), 'http://127.0.0.1/hook', '[]', true, false, 's', 0)"
            " RETURNING id"
        ).fetchone()
    assert webhook_id is not None
    async with AsyncConnectionPool(
        database_url, min_size=1, max_size=1, kwargs={"autocommit": True}
    ) as pool:
        deliveries = Deliveries(pool)
        ping = await deliveries.ping(webhook_id[0], {"id": str(uuid.uuid4())})
        claimed = Claimed(ping, webhook_id[0], None, uuid.uuid4(), "sluice.ping", None, 1)
        result = Result(
            delivery=claimed,
            attempted_at=datetime.now(UTC),
            status_code=200,
            latency_ms=1,
            body='{"ok":\x00true}',
            error="odd \udc80 text\x00",
            status="succeeded",
            delay=None,
        )
        await deliveries.record([result], disable_after=3600)
    with psycopg.connect(database_url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT a.response_body, a.error, d.status FROM webhook_attempts a"
            " JOIN webhook_deliveries d ON d.id = a.delivery_id"
        ).fetchone()
    assert row == ('{"ok":\ufffdtrue}', "odd ? text\ufffd", "succeeded")
