"""Public events as a reader and a producer see them: a reader's copy reads only its own
fields, upcasts older versions, and refuses what it cannot read; a stream refuses publishers
that do not say what they publish, and a publisher returning something else."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from app.sdk import Event, EventMeta, PublicEvent, Stream, Subscription
from app.sdk.streams import UnknownPublicEvent


class PriceV2(PublicEvent, type_name="shop.Price", schema_version=2):
    amount_cents: int
    currency: str = "EUR"


def meta() -> EventMeta:
    now = datetime.now(UTC)
    return EventMeta(
        seq=1, event_id=uuid.uuid4(), entity_type="p", entity_id="p1", version=1,
        recorded_at=now, metadata={},
    )  # fmt: skip


def subscription() -> Subscription:
    prices = Subscription("prices", service="shop", stream="prices", events=[PriceV2])

    @prices.upcaster("shop.Price", from_version=1)
    def cents(data: dict) -> dict:
        return {"amount_cents": round(data["amount"] * 100)}

    return prices


def test_a_reader_reads_its_own_fields_and_upcasts_older_versions() -> None:
    prices = subscription()
    current = prices.read("shop.Price", 2, {"amount_cents": 250, "currency": "GBP", "tax": 1})
    assert current == PriceV2(amount_cents=250, currency="GBP")  # `tax`: not its field
    assert prices.read("shop.Price", 1, {"amount": 1.5}) == PriceV2(amount_cents=150)


@pytest.mark.parametrize(
    ("type_name", "version", "says"),
    [
        ("shop.Discount", 1, "unknown public type 'shop.Discount'"),
        ("shop.Price", 3, "v3 is newer than this service's v2"),
    ],
)
def test_what_a_reader_cannot_read_is_named(type_name: str, version: int, says: str) -> None:
    with pytest.raises(UnknownPublicEvent, match=re.escape(says)):
        subscription().read(type_name, version, {})


@pytest.mark.parametrize("data", [None, [1, 2], "text"])
def test_data_that_is_no_object_is_refused_as_a_type_error(data: object) -> None:
    """What a consumer's decoding turns into an event pinned with its reason."""
    with pytest.raises(TypeError, match=re.escape("shop.Price data is not a JSON object")):
        subscription().read("shop.Price", 2, data)  # type: ignore[arg-type]


def test_an_upcaster_gets_a_copy_the_event_s_data_stays_as_read() -> None:
    prices = Subscription("prices", service="shop", stream="prices", events=[PriceV2])

    @prices.upcaster("shop.Price", from_version=1)
    def in_place(data: dict) -> dict:
        data["amount_cents"] = round(data.pop("amount") * 100)
        return data

    read = {"amount": 2.5}
    assert prices.read("shop.Price", 1, read) == PriceV2(amount_cents=250)
    assert read == {"amount": 2.5}  # read again (a retried batch): upcast the same way


def test_an_older_version_without_an_upcaster_is_named() -> None:
    bare = Subscription("bare", service="shop", stream="prices", events=[PriceV2])
    with pytest.raises(UnknownPublicEvent, match=re.escape("no upcaster for shop.Price v1")):
        bare.read("shop.Price", 1, {"amount": 1.0})


class PriceSet(Event):
    amount: float


class Private(Event):
    secret: str


def test_a_publisher_must_name_what_it_publishes_and_publish_only_that() -> None:
    stream = Stream("prices")
    with pytest.raises(TypeError, match="must say what it publishes"):

        @stream.publishes
        def unnamed(event: PriceSet, meta: EventMeta):  # type: ignore[no-untyped-def]
            return None

    @stream.publishes
    def wrong(event: PriceSet, meta: EventMeta) -> PriceV2 | None:
        return event  # type: ignore[return-value]  # an internal event: never sent

    with pytest.raises(TypeError, match="which its return hint does not name"):
        stream.publish(PriceSet(amount=1.0), meta())
    assert set(stream.public_types) == {"shop.Price"}


def test_a_publisher_reads_the_service_s_own_events_not_public_ones() -> None:
    stream = Stream("prices")
    with pytest.raises(TypeError, match="reads the service's own events"):

        @stream.publishes
        def relay(event: PriceV2, meta: EventMeta) -> PriceV2:
            return event


def test_a_filtered_event_is_none() -> None:
    stream = Stream("prices")

    @stream.publishes
    def only_big(event: PriceSet, meta: EventMeta) -> PriceV2 | None:
        return PriceV2(amount_cents=int(event.amount * 100)) if event.amount > 10 else None

    assert stream.publish(PriceSet(amount=1.0), meta()) is None
    assert stream.publish(PriceSet(amount=20.0), meta()) == PriceV2(amount_cents=2000)
