"""The view and action testkits: the same handlers the platform runs, folded in memory."""

from __future__ import annotations

import pytest

from app.sdk import Send
from app.sdk.testing import ActionTestKit, ViewTestKit
from tests.support import ledger
from tests.support.bank import AccountOpened, Deposit, MoneyDeposited, MoneyWithdrawn


def test_a_view_kit_folds_events_into_rows_and_answers_queries() -> None:
    kit = ViewTestKit(ledger.balances, entity_type="account")
    kit.given("a1", AccountOpened(owner="Grace", currency="EUR"), MoneyDeposited(amount=10))
    kit.given("a2", AccountOpened(owner="Alan", currency="EUR"), MoneyDeposited(amount=3))
    kit.given("a1", MoneyWithdrawn(amount=4))
    first = kit.row("a1")
    assert first is not None and (first.owner, first.balance) == ("Grace", 6)
    assert kit.row("nobody") is None
    assert [row.account_id for row in kit.query(owner="Alan")] == ["a2"]
    assert [row.account_id for row in kit.query(sort="-balance")] == ["a1", "a2"]
    assert [row.account_id for row in kit.query(sort="balance")] == ["a2", "a1"]


def test_a_view_kit_meets_a_handler_s_failure_as_the_projector_would() -> None:
    kit = ViewTestKit(ledger.balances).given("a1", AccountOpened(owner="G", currency="EUR"))
    with pytest.raises(ValueError, match="unlucky"):
        kit.given("a1", MoneyDeposited(amount=ledger.POISON))


def test_a_view_kit_names_what_the_view_does_not_do() -> None:
    kit = ViewTestKit(ledger.deposits)
    with pytest.raises(
        LookupError, match=r"handles no AccountOpened \(it handles: MoneyDeposited\)"
    ):
        kit.given("a1", AccountOpened(owner="G", currency="EUR"))
    with pytest.raises(LookupError, match="filters on"):
        kit.query(owner="G")
    with pytest.raises(LookupError, match="sorts by"):
        ViewTestKit(ledger.balances).query(sort="owner")


def test_an_action_kit_shows_the_commands_an_event_sends() -> None:
    kit = ActionTestKit(ledger.welcome, entity_type="account")
    tested = kit.when("a1", AccountOpened(owner="Grace", currency="EUR"))
    tested.expect_sends(Send("account", "a1", "deposit", Deposit(amount=ledger.BONUS)))
    assert tested.timers == ()
    with pytest.raises(AssertionError, match="expected no effect"):
        tested.expect_nothing()
    with pytest.raises(AssertionError, match="expected sends"):
        tested.expect_sends()
    with pytest.raises(LookupError, match="handles no MoneyDeposited"):
        kit.when("a1", MoneyDeposited(amount=1))
