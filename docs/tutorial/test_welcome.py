from app.sdk import Send
from app.sdk.testing import ActionTestKit
from piggy_bank.account import AccountOpened, Deposit
from piggy_bank.welcome import welcome


def test_an_opened_account_gets_its_bonus() -> None:
    ActionTestKit(welcome, "account").when("a1", AccountOpened(owner="Grace")).expect_sends(
        Send("account", "a1", "deposit", Deposit(amount=5))
    )
