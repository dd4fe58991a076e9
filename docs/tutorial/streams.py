"""What piggy-bank tells other services: its deposits, as public events of their own."""

from app.sdk import EventMeta, PublicEvent, Stream
from piggy_bank.account import MoneyDeposited


class Deposited(PublicEvent, type_name="piggy-bank.Deposited"):
    amount: int


deposits = Stream("deposits", description="Money put into accounts (subject: the account).")


@deposits.publishes
def deposited(event: MoneyDeposited, meta: EventMeta) -> Deposited:
    return Deposited(amount=event.amount)
