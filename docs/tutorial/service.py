"""Piggy Bank: the service, with its action and its public stream."""

from pathlib import Path

from app.sdk import Service
from piggy_bank.account import account
from piggy_bank.streams import deposits
from piggy_bank.views import balances
from piggy_bank.welcome import welcome

service = Service(
    "piggy-bank",
    entities=[account],
    views=[balances],
    actions=[welcome],
    streams=[deposits],
    description="Piggy Bank.",
    migrations=Path(__file__).parent / "migrations",
)
