"""Webhook building blocks without a database: signatures, the retry schedule, the URL guard."""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import standardwebhooks

from app.webhooks import schedule, signing
from app.webhooks.matching import BadPattern, check_patterns
from app.webhooks.schedule import next_delay, parse_retry_after, parse_schedule
from app.webhooks.sender import new_client, send
from app.webhooks.urlguard import ForbiddenURL, check_syntax, forbidden_reason, resolve

# -- signing ------------------------------------------------------------------------------------
KEY = bytes(range(32))
SECRET = "whsec_" + base64.b64encode(KEY).decode()
MESSAGE_ID = "6f1e5b2c-6a43-4a8e-9d0b-2d5c7e1f0a11"
TIMESTAMP = 1_700_000_000
BODY = b'{"type":"patient.PatientAdmitted","data":{"name":"Ada"}}'


def by_hand(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def test_signature_is_the_hmac_of_id_timestamp_and_body_keyed_with_the_decoded_secret() -> None:
    assert signing.signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == by_hand(
        KEY, MESSAGE_ID, TIMESTAMP, BODY
    )


def test_signature_matches_the_standard_webhooks_reference() -> None:
    when = datetime.fromtimestamp(TIMESTAMP, UTC)
    reference = standardwebhooks.Webhook(SECRET).sign(MESSAGE_ID, when, BODY.decode())
    assert signing.signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY) == reference


def test_signature_changes_with_every_signed_part() -> None:
    base = signing.signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY)
    assert signing.signature(SECRET, MESSAGE_ID + "x", TIMESTAMP, BODY) != base
    assert signing.signature(SECRET, MESSAGE_ID, TIMESTAMP + 1, BODY) != base
    assert signing.signature(SECRET, MESSAGE_ID, TIMESTAMP, BODY + b" ") != base
    assert signing.signature(signing.new_secret(), MESSAGE_ID, TIMESTAMP, BODY) != base


def test_header_carries_one_entry_per_live_secret_and_each_verifies() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    timestamp = int(datetime.now(UTC).timestamp())
    header = signing.signature_header([new, old], MESSAGE_ID, timestamp, BODY)
    assert header.split(" ") == [
        signing.signature(new, MESSAGE_ID, timestamp, BODY),
        signing.signature(old, MESSAGE_ID, timestamp, BODY),
    ]
    headers = {
        "webhook-id": MESSAGE_ID,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": header,
    }
    for secret in (old, new):
        assert standardwebhooks.Webhook(secret).verify(BODY, headers)["data"] == {"name": "Ada"}
    with pytest.raises(standardwebhooks.WebhookVerificationError):
        standardwebhooks.Webhook(signing.new_secret()).verify(BODY, headers)


def test_new_secrets_are_prefixed_random_and_of_the_spec_size() -> None:
    secrets = {signing.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert secret.startswith("whsec_")
        assert 24 <= len(signing.secret_key(secret)) <= 64


# -- schedule -----------------------------------------------------------------------------------
def test_next_delay_follows_the_schedule_within_the_jitter() -> None:
    delays = (1.0, 10.0, 100.0)
    for attempts, base in enumerate(delays, start=1):
        seen = [next_delay(delays, attempts) for _ in range(300)]
        assert all(d is not None for d in seen)
        values = [d for d in seen if d is not None]
        assert min(values) >= base * (1 - schedule.JITTER)
        assert max(values) <= base * (1 + schedule.JITTER)
        assert max(values) - min(values) > base * schedule.JITTER / 2, "no jitter at all"


def test_next_delay_gives_up_after_the_schedule() -> None:
    assert next_delay((1.0, 2.0), 2) is not None
    assert next_delay((1.0, 2.0), 3) is None
    assert next_delay((1.0, 2.0), 3, retry_after=5) is None  # Retry-After does not add attempts


def test_retry_after_lengthens_but_never_shortens_the_delay() -> None:
    delay = next_delay((0.2,), 1, retry_after=2.0)
    assert delay == 2.0
    longer = next_delay((100.0,), 1, retry_after=2.0)
    assert longer is not None and longer >= 90
    capped = next_delay((0.2,), 1, retry_after=10 * 24 * 3600)
    assert capped == schedule.MAX_RETRY_AFTER


def test_parse_retry_after_reads_seconds_and_http_dates() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert parse_retry_after("2", now) == 2.0
    assert parse_retry_after(" 120 ", now) == 120.0
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30
    assert parse_retry_after("Fri, 02 Jan 2026 03:04:35 GMT", now) == 30
    assert parse_retry_after(format_datetime(now - timedelta(hours=1), usegmt=True), now) == 0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3", "Someday, 99 Foo"])
def test_parse_retry_after_ignores_what_it_cannot_read(value: str | None) -> None:
    assert parse_retry_after(value) is None


def test_parse_schedule() -> None:
    assert parse_schedule("5, 300,1800") == (5.0, 300.0, 1800.0)
    assert parse_schedule("0.2,0.5,1,") == (0.2, 0.5, 1.0)
    for bad in ("", ",", "1,-2", "soon"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


# -- event type patterns ------------------------------------------------------------------------
def test_check_patterns_refuses_what_is_not_a_type() -> None:
    assert check_patterns(["b.*", "a.X", "b.*"]) == ["a.X", "b.*"]
    for bad in ("patient", "patient.", "*.X", "patient.Vitals*", "a b.c", "a.b.c", ".X", ""):
        with pytest.raises(BadPattern):
            check_patterns([bad])


# -- the URL guard ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("127.255.0.9", "loopback"),
        ("::1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", None),  # link-local (cloud metadata): any reason will do
        ("fe80::1", None),
        ("fc00::1", "private"),
        ("fd00:ec2::254", "private"),  # AWS metadata over IPv6
        ("0.0.0.0", None),
        ("::", None),
        ("100.64.0.1", None),  # carrier-grade NAT, not global
        ("224.0.0.1", "multicast"),
        ("ff02::1", "multicast"),
        ("255.255.255.255", None),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6
        ("::ffff:10.1.2.3", "private"),
        ("::ffff:169.254.169.254", None),
        ("::7f00:1", None),  # IPv4-compatible (deprecated) ::127.0.0.1
        ("fec0::1", "site-local"),  # deprecated site-local, still routed inside some sites
        ("feff:ffff::1", "site-local"),
    ],
)
def test_forbidden_reason_refuses_every_non_public_form(address: str, reason: str | None) -> None:
    found = forbidden_reason(ipaddress.ip_address(address))
    assert found is not None, f"{address} is not public but was allowed"
    if reason is not None:
        assert found == reason


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_forbidden_reason_allows_public_addresses(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


@pytest.mark.parametrize(
    ("url", "needs"),
    [
        ("http://93.184.216.34/hook", "https"),
        ("ftp://93.184.216.34/hook", "https"),
        ("hook", "https"),
        ("https:///hook", "no host"),
        ("https://user:pw@93.184.216.34/hook", "credentials"),
    ],
)
def test_check_syntax_refuses_plain_http_odd_schemes_and_credentials(url: str, needs: str) -> None:
    with pytest.raises(ForbiddenURL, match=needs):
        check_syntax(url, allow_private=False)


def test_check_syntax_allows_http_when_private_targets_are() -> None:
    assert check_syntax("http://127.0.0.1:81/x", allow_private=True) == ("http", "127.0.0.1", 81)
    assert check_syntax("https://[::1]/x", allow_private=True) == ("https", "::1", 443)


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/",
        "https://[::1]/",
        "https://10.1.2.3/",
        "https://169.254.169.254/latest/meta-data/",
        "https://[::ffff:127.0.0.1]/",
        "https://localhost/",  # a name resolving to loopback
        "https://127.1/",  # short and numeric spellings of 127.0.0.1
        "https://2130706433/",
        "https://0x7f000001/",
        "https://[fec0::1]/",
    ],
)
async def test_resolve_refuses_what_resolves_to_a_private_address(url: str) -> None:
    with pytest.raises(ForbiddenURL, match="resolves to"):
        await resolve(url, allow_private=False)


async def test_resolve_connects_to_the_checked_address_keeping_path_port_and_query() -> None:
    target = await resolve("https://93.184.216.34:8443/a/b?c=1", allow_private=False)
    assert (target.host, target.address) == ("93.184.216.34", "93.184.216.34")
    assert target.connect_url == "https://93.184.216.34:8443/a/b?c=1"
    local = await resolve("http://localhost:9/h?s=2", allow_private=True)
    assert local.address in ("127.0.0.1", "::1")
    assert local.connect_url.endswith(":9/h?s=2")
    assert "localhost" not in local.connect_url
    v6 = await resolve("https://[2606:4700::1111]/x", allow_private=False)
    assert v6.connect_url == "https://[2606:4700::1111]/x"


async def test_an_attempt_to_a_private_target_is_refused_without_connecting() -> None:
    async with new_client(1) as client:
        for url, reason in [
            ("https://127.0.0.1:9/hook", "loopback"),
            ("https://[::ffff:10.0.0.1]/hook", "private"),
            ("http://93.184.216.34/hook", "https"),
        ]:
            answer = await send(
                client,
                url=url,
                message_id=MESSAGE_ID,
                body=BODY,
                secrets=[SECRET],
                within=5,
                allow_private=False,
            )
            assert answer.status_code is None
            assert answer.error is not None and answer.error.startswith("refused:"), answer
            assert reason in answer.error
