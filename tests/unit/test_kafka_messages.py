"""Public events as Kafka messages (CloudEvents' Kafka binding) and back: what Sluice sends
reads back as the same event; another producer's structured or binary CloudEvent reads as
one; anything else is refused with the reason, never guessed at."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.kafka.messages import NotACloudEvent, from_message, to_message
from app.kafka.settings import KafkaSettings

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


def sluice_event(data: Any, subject: str, seq: int, correlation: str | None) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": "1b4e28ba-2fa1-11d2-883f-0016d3cca427",
        "source": "/sluice/ward/streams/alerts",
        "type": "ward.AlertRaised",
        "subject": subject,
        "time": datetime(2026, 12, 1, 8, 0, tzinfo=UTC),
        "datacontenttype": "application/json",
        "data": data,
        "seq": seq,
        "entityversion": 3,
        "schemaversion": 2,
        "correlationid": correlation,
        "causationid": None,
        "traceparent": None,
    }


@given(
    data=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    subject=st.text(min_size=1, max_size=30).filter(lambda s: "\x00" not in s),
    seq=st.integers(1, 2**62),
    correlation=st.none() | st.text(min_size=1, max_size=20),
)
def test_what_sluice_sends_reads_back_as_the_same_event(
    data: dict[str, Any], subject: str, seq: int, correlation: str | None
) -> None:
    event = sluice_event(data, subject, seq, correlation)
    key, value, headers = to_message(event)
    assert key == subject.encode()  # one entity, one partition
    read = from_message(key, value, headers)
    expected = {k: v for k, v in event.items() if v is not None}
    expected["time"] = event["time"].isoformat()
    assert read == expected


def test_a_structured_cloudevent_from_another_producer_is_read_whole() -> None:
    event = {"specversion": "1.0", "id": "e1", "source": "/x", "type": "t", "data": {"a": 1}}
    headers = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    read = from_message(b"k1", json.dumps(event).encode(), headers, timestamp_ms=1_764_576_000_000)
    assert read["subject"] == "k1"  # the key, when the event names no subject
    assert read["time"].startswith("2025-12-01T08:00:00")  # the message's own timestamp
    assert read["schemaversion"] == 1 and read["data"] == {"a": 1}


def test_a_binary_cloudevent_from_another_producer_reads_its_attributes_only() -> None:
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"e1"),
        ("ce_source", b"/billing"),
        ("ce_type", b"billing.InvoicePaid"),
        ("ce_partitionkey", b"p7"),  # an extension Sluice has no use for: passed over
        ("Content-Type", b"application/json; charset=utf-8"),  # any spelling of the name
        ("ce_schemaversion", b"2"),
        ("x-trace", b"abc"),
    ]
    read = from_message(b"k9", b'{"amount": 12}', headers)
    assert read == {
        "specversion": "1.0",
        "id": "e1",
        "source": "/billing",
        "type": "billing.InvoicePaid",
        "subject": "k9",
        "schemaversion": 2,
        "datacontenttype": "application/json",
        "data": {"amount": 12},
    }


@pytest.mark.parametrize(
    ("value", "headers", "says"),
    [
        (b"hello", [], "no ce_ headers"),
        (b"{}", [("ce_id", b"1"), ("ce_source", b"/x")], "without type"),
        (b"not json", [("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t")], "not JSON"),
        (
            b"\x00\x01",
            [("ce_id", b"1"), ("ce_source", b"/x"), ("ce_type", b"t"), ("content-type", b"a/b")],
            "public events are JSON",
        ),
        (b"[1]", [("content-type", b"application/cloudevents+json")], "not a JSON object"),
        (b"{", [("content-type", b"application/cloudevents+json")], "not JSON"),
    ],
)
def test_anything_else_is_refused_with_the_reason(
    value: bytes, headers: list[tuple[str, bytes]], says: str
) -> None:
    with pytest.raises(NotACloudEvent, match=says):
        from_message(None, value, headers)


def test_topic_settings_read_pairs_or_json_and_refuse_what_is_no_topic() -> None:
    settings = KafkaSettings.model_validate(
        {"kafka_publish": "alerts=ward.alerts, beds=ward.beds", "kafka_config": '{"linger.ms": 5}'}
    )
    assert settings.publish == {"alerts": "ward.alerts", "beds": "ward.beds"}
    assert settings.client(acks="all")["linger.ms"] == "5"
    assert KafkaSettings.model_validate({"kafka_subscribe": '{"ward/alerts": "t"}'}).subscribe
    for bad in ("alerts", "alerts=has space", "alerts="):
        with pytest.raises(ValueError, match="SLUICE_KAFKA_PUBLISH"):
            KafkaSettings.model_validate({"kafka_publish": bad})
