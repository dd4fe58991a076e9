"""A producer whose internal event changes under its public stream, and a consumer of it.

``shop_v1`` records ``OrderPlaced`` v1 (item, qty). ``shop_v2`` is the same service a release
later: the internal event renamed its fields, gained one, and is v2 with an upcaster; it also
publishes a public type the consumer has never heard of (``shop.OrderCancelled``). Its
``orders`` stream still says ``shop.OrderPlaced`` with item and qty, whatever was stored.

``desk`` reads the stream into two views: ``strict-orders`` (an unknown type pins it) and
``lenient-orders`` (``ignore_unknown``), with its own copy of the public model.
"""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy import Column, Integer, Text
from sqlmodel import Field, SQLModel

from app.sdk import (
    Command,
    Event,
    EventMeta,
    EventSourcedEntity,
    PublicEvent,
    Service,
    Stream,
    Subscription,
    View,
)


class OrderState(BaseModel):
    placed: bool = False
    cancelled: bool = False


class PublicOrderPlaced(PublicEvent, type_name="shop.OrderPlaced", schema_version=1):
    item: str
    qty: int


# -- v1 ---------------------------------------------------------------------------------------
class PlaceV1(Command):
    item: str
    qty: int


class OrderPlacedV1(Event, type_name="OrderPlaced", schema_version=1):
    item: str
    qty: int


order_v1 = EventSourcedEntity("order", state=OrderState)


@order_v1.command("place")
def place_v1(state: OrderState, command: PlaceV1) -> OrderPlacedV1:
    return OrderPlacedV1(item=command.item, qty=command.qty)


@order_v1.applies
def placed_v1(state: OrderState, event: OrderPlacedV1) -> OrderState:
    return OrderState(placed=True)


orders_v1 = Stream("orders")


@orders_v1.publishes
def publish_v1(event: OrderPlacedV1, meta: EventMeta) -> PublicOrderPlaced:
    return PublicOrderPlaced(item=event.item, qty=event.qty)


shop_v1 = Service("shop", entities=[order_v1], streams=[orders_v1])


# -- v2: renamed, a field more, v2 with an upcaster, and a new public type ---------------------
class PlaceV2(Command):
    product: str
    quantity: int
    gift_wrap: bool = False


class Cancel(Command):
    pass


class OrderPlacedV2(Event, type_name="OrderPlaced", schema_version=2):
    product: str
    quantity: int
    gift_wrap: bool = False


class OrderCancelled(Event):
    pass


class PublicOrderCancelled(PublicEvent, type_name="shop.OrderCancelled", schema_version=1):
    pass


order_v2 = EventSourcedEntity("order", state=OrderState)


@order_v2.upcaster("OrderPlaced", from_version=1)
def renamed(data: dict) -> dict:
    return {"product": data["item"], "quantity": data["qty"]}


@order_v2.command("place")
def place_v2(state: OrderState, command: PlaceV2) -> OrderPlacedV2:
    return OrderPlacedV2(**command.model_dump())


@order_v2.command("cancel")
def cancel(state: OrderState, command: Cancel) -> OrderCancelled:
    return OrderCancelled()


@order_v2.applies
def placed_v2(state: OrderState, event: OrderPlacedV2) -> OrderState:
    return OrderState(placed=True)


@order_v2.applies
def cancelled(state: OrderState, event: OrderCancelled) -> OrderState:
    return OrderState(placed=True, cancelled=True)


orders_v2 = Stream("orders")


@orders_v2.publishes
def publish_v2(event: OrderPlacedV2, meta: EventMeta) -> PublicOrderPlaced:
    return PublicOrderPlaced(item=event.product, qty=event.quantity)


@orders_v2.publishes
def publish_cancel(event: OrderCancelled, meta: EventMeta) -> PublicOrderCancelled:
    return PublicOrderCancelled()


shop_v2 = Service("shop", entities=[order_v2], streams=[orders_v2])


# -- the consumer -----------------------------------------------------------------------------
class ShopOrderPlaced(PublicEvent, type_name="shop.OrderPlaced", schema_version=1):
    item: str  # its own copy: it does not read qty at all


class StrictRow(SQLModel, table=True):
    __tablename__ = "test_strict_orders"
    order_id: str = Field(sa_column=Column(Text, primary_key=True))
    item: str = Field(sa_column=Column(Text, nullable=False))
    seen: int = Field(sa_column=Column(Integer, nullable=False))


class LenientRow(SQLModel, table=True):
    __tablename__ = "test_lenient_orders"
    order_id: str = Field(sa_column=Column(Text, primary_key=True))
    item: str = Field(sa_column=Column(Text, nullable=False))
    seen: int = Field(sa_column=Column(Integer, nullable=False))


strict = View(
    "strict-orders",
    table=StrictRow,
    source=Subscription("shop-orders", service="shop", stream="orders"),
)
lenient = View(
    "lenient-orders",
    table=LenientRow,
    source=Subscription(
        "shop-orders-lenient", service="shop", stream="orders", ignore_unknown=True
    ),
)


@strict.handles
def strict_placed(row: StrictRow | None, event: ShopOrderPlaced, meta: EventMeta) -> StrictRow:
    return StrictRow(order_id=meta.entity_id, item=event.item, seen=(row.seen if row else 0) + 1)


@lenient.handles
def lenient_placed(row: LenientRow | None, event: ShopOrderPlaced, meta: EventMeta) -> LenientRow:
    return LenientRow(order_id=meta.entity_id, item=event.item, seen=(row.seen if row else 0) + 1)


desk = Service("desk", views=[strict, lenient])
