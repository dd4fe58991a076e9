"""A tiny second service, defined only in the tests: it proves the SDK is not tied to the ward.

``AccountOpened`` is at schema version 2 (v1 had no currency); the upcaster turns stored v1
events into v2 on load.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from app.sdk import Command, Event, EventSourcedEntity, Rejection, Reply, Service


class Open(Command):
    owner: str = Field(min_length=1)
    currency: str = Field(default="EUR", pattern="^[A-Z]{3}$")


class Deposit(Command):
    amount: int = Field(gt=0)


class Withdraw(Command):
    amount: int = Field(gt=0)


class AccountOpened(Event, schema_version=2):
    owner: str
    currency: str


class MoneyDeposited(Event):
    amount: int


class MoneyWithdrawn(Event):
    amount: int


class Account(BaseModel):
    open: bool = False
    owner: str | None = None
    currency: str | None = None
    balance: int = 0


account = EventSourcedEntity("account", state=Account)


@account.command("open")
def open_account(state: Account, command: Open) -> AccountOpened:
    if state.open:
        raise Rejection("the account is already open")
    return AccountOpened(owner=command.owner, currency=command.currency)


@account.command("deposit")
def deposit(state: Account, command: Deposit) -> MoneyDeposited:
    if not state.open:
        raise Rejection("no such account")
    return MoneyDeposited(amount=command.amount)


@account.command("withdraw")
def withdraw(state: Account, command: Withdraw) -> Reply:
    if not state.open:
        raise Rejection("no such account")
    if command.amount > state.balance:
        raise Rejection("insufficient funds", balance=state.balance)
    return Reply(
        [MoneyWithdrawn(amount=command.amount)], {"balance": state.balance - command.amount}
    )


class Audit(Command):
    pass


@account.command("audit")
def audit(state: Account, command: Audit) -> MoneyDeposited:
    """A handler with a bug: the platform must answer 500 and store nothing."""
    raise RuntimeError("bug in the audit handler")


@account.upcaster("AccountOpened", from_version=1)
def opened_v1_to_v2(data: dict) -> dict:
    return {**data, "currency": "EUR"}


@account.applies
def opened(state: Account, event: AccountOpened) -> Account:
    return Account(open=True, owner=event.owner, currency=event.currency)


@account.applies
def deposited(state: Account, event: MoneyDeposited) -> Account:
    return state.model_copy(update={"balance": state.balance + event.amount})


@account.applies
def withdrawn(state: Account, event: MoneyWithdrawn) -> Account:
    return state.model_copy(update={"balance": state.balance - event.amount})


service = Service("bank", entities=[account])
