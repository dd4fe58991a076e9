"""The publisher's bookkeeping of a batch's delivery reports, and the producer settings its
at-least-once promise rests on (a Sluice consumer passes over a seq it has seen pass, so the
topic must never hold a message after a gap)."""

from __future__ import annotations

from confluent_kafka import KafkaError

from app.kafka.publisher import PRODUCER, WINDOW, _Sent


def test_a_batch_is_done_when_every_message_is_reported_and_failed_if_any_failed() -> None:
    sent = _Sent(after=10, end=20, count=3)
    acks = sent.acks
    acks.delivered(None, None)
    acks.delivered(None, None)
    assert not acks.done and acks.pending == 1
    acks.delivered(KafkaError(KafkaError._MSG_TIMED_OUT), None)
    assert acks.done and len(acks.errors) == 1 and not acks.fatal


def test_messages_produce_refused_count_as_reported_and_a_fatal_error_is_kept() -> None:
    acks = _Sent(after=0, end=5, count=5).acks
    acks.delivered(None, None)
    acks.failed(KafkaError(KafkaError._FATAL, "gap", fatal=True), unsent=4)
    assert acks.done and acks.fatal  # the publisher drops the producer and makes a new one


def test_the_producer_never_gives_a_message_up_and_never_leaves_a_gap() -> None:
    assert PRODUCER["message.timeout.ms"] == 0
    assert PRODUCER["enable.gapless.guarantee"] is True
    assert PRODUCER["enable.idempotence"] is True and PRODUCER["acks"] == "all"
    assert WINDOW >= 1
