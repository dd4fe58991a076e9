"""The bank's account entity with consumers around it, for the consumer runner's tests.

- view ``balances``: one row per account; a deposit of POISON raises in its handler (a bug
  that only some events trigger), so the view gets stuck on exactly that event;
- view ``deposits``: counts deposits per account, and never fails (it must not be blocked);
- action ``welcome``: on AccountOpened, deposits a bonus into the new account;
- action ``fees``: on MoneyWithdrawn, withdraws a fee from the ``fees-<id>`` account, which
  does not exist, so its entity rejects the command (recorded, and the action moves on);
- commands ``remind``/``forget-reminder`` on a ``piggy`` entity: a timer that deposits later.
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel, Field
from sqlalchemy import Column, Integer, Text
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from app.sdk import (
    Action,
    CancelTimer,
    Command,
    Event,
    EventMeta,
    EventSourcedEntity,
    Reply,
    Send,
    Service,
    Timer,
    View,
)
from tests.support.bank import (
    AccountOpened,
    Deposit,
    MoneyDeposited,
    MoneyWithdrawn,
    Withdraw,
    account,
)

POISON = 13  # the balances handler raises on a deposit of this amount
UNSTORABLE = 666  # the balances handler returns a row the database refuses
BONUS = 5


class BalanceRow(SQLModel, table=True):
    __tablename__ = "test_balances"

    account_id: str = SQLField(sa_column=Column(Text, primary_key=True))
    owner: str = SQLField(sa_column=Column(Text, nullable=False))
    balance: int = SQLField(sa_column=Column(Integer, nullable=False))


class DepositCountRow(SQLModel, table=True):
    __tablename__ = "test_deposit_counts"

    account_id: str = SQLField(sa_column=Column(Text, primary_key=True))
    deposits: int = SQLField(sa_column=Column(Integer, nullable=False))


balances = View("balances", table=BalanceRow, filters=["owner"], sort=["balance"])
deposits = View("deposits", table=DepositCountRow)


@balances.handles
def opened(row: BalanceRow | None, event: AccountOpened, meta: EventMeta) -> BalanceRow:
    return BalanceRow(account_id=meta.entity_id, owner=event.owner, balance=0)


@balances.handles
def deposited(row: BalanceRow | None, event: MoneyDeposited, meta: EventMeta) -> BalanceRow | None:
    if event.amount == POISON:
        raise ValueError(f"unlucky amount {POISON}")
    if row is None:
        return None
    row.balance += event.amount
    if event.amount == UNSTORABLE:
        row.balance = "not a number"  # type: ignore[assignment]
    return row


@balances.handles
def withdrawn(row: BalanceRow | None, event: MoneyWithdrawn, meta: EventMeta) -> BalanceRow | None:
    if row is None:
        return None
    row.balance -= event.amount
    return row


@deposits.handles
def counted(row: DepositCountRow | None, event: MoneyDeposited, meta: EventMeta) -> DepositCountRow:
    count = row.deposits if row else 0
    return DepositCountRow(account_id=meta.entity_id, deposits=count + 1)


welcome = Action("welcome", start_from="beginning")
fees = Action("fees", start_from="beginning")


@welcome.handles
def bonus(event: AccountOpened, meta: EventMeta) -> Send:
    return Send("account", meta.entity_id, "deposit", Deposit(amount=BONUS))


@fees.handles
def fee(event: MoneyWithdrawn, meta: EventMeta) -> Send:
    return Send("account", f"fees-{meta.entity_id}", "withdraw", Withdraw(amount=1))


# -- timers ---------------------------------------------------------------------------------
class Remind(Command):
    amount: int = Field(gt=0)
    seconds: float = Field(gt=0)


class ForgetReminder(Command):
    pass


class Save(Command):
    amount: int = Field(gt=0)


class ReminderSet(Event):
    amount: int


class ReminderForgotten(Event):
    pass


class Saved(Event):
    amount: int


class Piggy(BaseModel):
    saved: int = 0


piggy = EventSourcedEntity("piggy", state=Piggy)


@piggy.command("remind")
def remind(state: Piggy, command: Remind) -> Reply:
    timer = Timer(
        "save", "save", Save(amount=command.amount), after=timedelta(seconds=command.seconds)
    )
    return Reply([ReminderSet(amount=command.amount)], timers=[timer])


@piggy.command("forget-reminder")
def forget(state: Piggy, command: ForgetReminder) -> Reply:
    return Reply([ReminderForgotten()], timers=[CancelTimer("save")])


@piggy.command("save")
def save(state: Piggy, command: Save) -> Saved:
    return Saved(amount=command.amount)


@piggy.applies
def reminder_set(state: Piggy, event: ReminderSet) -> Piggy:
    return state


@piggy.applies
def reminder_forgotten(state: Piggy, event: ReminderForgotten) -> Piggy:
    return state


@piggy.applies
def saved(state: Piggy, event: Saved) -> Piggy:
    return Piggy(saved=state.saved + event.amount)


service = Service(
    "ledger",
    entities=[account, piggy],
    views=[balances, deposits],
    actions=[welcome, fees],
)
