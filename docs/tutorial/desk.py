"""The savings desk: a second service, with a database of its own, that reads piggy-bank's
deposits stream (its own copy of the public event) into a view of totals per account."""

from sqlalchemy import Column, Integer, Text
from sqlmodel import Field, SQLModel

from app.sdk import EventMeta, PublicEvent, Service, Subscription, View


class Deposited(PublicEvent, type_name="piggy-bank.Deposited"):
    amount: int


piggy_deposits = Subscription("piggy-deposits", service="piggy-bank", stream="deposits")


class Total(SQLModel, table=True):
    __tablename__ = "desk_totals"
    account_id: str = Field(sa_column=Column(Text, primary_key=True))
    deposited: int = Field(sa_column=Column(Integer, nullable=False))


totals = View("totals", table=Total, source=piggy_deposits, sort=["deposited"])


@totals.handles
def deposited(row: Total | None, event: Deposited, meta: EventMeta) -> Total:
    before = row.deposited if row else 0
    return Total(account_id=meta.entity_id, deposited=before + event.amount)


service = Service("desk", views=[totals], description="The savings desk.")
