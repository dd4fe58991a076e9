"""A welcome bonus: every account opened gets 5 in it, once."""

from app.sdk import Action, EventMeta, Send
from piggy_bank.account import AccountOpened, Deposit

welcome = Action("welcome", start_from="now")  # accounts opened from now on


@welcome.handles
def bonus(event: AccountOpened, meta: EventMeta) -> Send:
    return Send("account", meta.entity_id, "deposit", Deposit(amount=5))
