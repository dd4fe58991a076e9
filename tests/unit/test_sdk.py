"""The SDK itself: event naming, declaring entities, deciding, upcasting, and the testkit."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel

from app.sdk import Command, Event, EventSourcedEntity, Rejection, Service
from app.sdk.testing import EntityTestKit
from app.services.ward.patient import patient
from tests.support.bank import (
    Account,
    AccountOpened,
    Deposit,
    MoneyDeposited,
    MoneyWithdrawn,
    Withdraw,
    account,
)


# -- test-only models (module level: handler hints are resolved against module globals) --------
class Counter(BaseModel):
    value: int = 0


class Bump(Command):
    by: int = 1


class Bumped(Event):
    by: int


class Renamed(Event, type_name="counter-renamed", schema_version=3):
    name: str


def counter_entity() -> EventSourcedEntity[Counter]:
    entity = EventSourcedEntity("counter", state=Counter)

    @entity.command("bump")
    def bump(state: Counter, command: Bump) -> Bumped:
        if command.by == 0:
            raise Rejection("bumping by zero changes nothing")
        return Bumped(by=command.by)

    @entity.applies
    def bumped(state: Counter, event: Bumped) -> Counter:
        return Counter(value=state.value + event.by)

    return entity


# -- events ------------------------------------------------------------------------------------
def test_an_event_is_stored_under_its_class_name_at_version_one_by_default() -> None:
    assert Bumped.event_type == "Bumped"
    assert Bumped.schema_version == 1


def test_an_event_can_name_its_stored_type_and_schema_version() -> None:
    assert Renamed.event_type == "counter-renamed"
    assert Renamed.schema_version == 3


def test_a_schema_version_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="schema_version starts at 1"):

        class Broken(Event, schema_version=0):
            pass


def test_events_are_immutable_and_refuse_unknown_fields() -> None:
    event = Bumped(by=1)
    with pytest.raises(ValueError):
        event.by = 2  # type: ignore[misc]
    with pytest.raises(ValueError):
        Bumped.model_validate({"by": 1, "extra": True})


# -- declaring ---------------------------------------------------------------------------------
def test_declaring_a_command_twice_is_refused() -> None:
    entity = counter_entity()
    with pytest.raises(ValueError, match="declared twice"):

        @entity.command("bump")
        def bump_again(state: Counter, command: Bump) -> Bumped:
            return Bumped(by=command.by)


@pytest.mark.parametrize("hint", ["Counter", "int", "Bumped", "Bump | None", None])
def test_a_handler_not_annotated_with_a_command_is_refused(hint: str | None) -> None:
    entity = EventSourcedEntity("counter", state=Counter)

    def handler(state: Counter, command: Any) -> Bumped:
        return Bumped(by=1)

    handler.__annotations__ = {"state": "Counter", "return": "Bumped"}
    if hint is not None:
        handler.__annotations__["command"] = hint
    with pytest.raises(TypeError, match="annotate parameter 'command' with a Command"):
        entity.command("bump")(handler)
    assert "bump" not in entity.commands


def test_handlers_missing_a_parameter_or_an_event_hint_are_refused() -> None:
    entity = EventSourcedEntity("counter", state=Counter)

    def handler(state: Counter) -> Bumped:
        return Bumped(by=1)

    def applier(state: Counter, event: Bump) -> Counter:
        return state

    with pytest.raises(TypeError, match="takes"):
        entity.command("bump")(handler)
    with pytest.raises(TypeError, match="with a Event"):
        entity.applies(applier)


def test_two_event_classes_with_the_same_stored_name_are_refused() -> None:
    entity = counter_entity()

    class Impostor(Event, type_name="Bumped"):
        by: int

    with pytest.raises(ValueError, match="two events named 'Bumped'"):
        entity.register_event(Impostor)


def test_a_command_declaration_records_its_model_and_summary() -> None:
    entity = counter_entity()

    @entity.command("reset", summary="Start again from zero.")
    def reset(state: Counter, command: Bump) -> list[Event]:
        """Ignored: an explicit summary wins."""
        return []

    assert entity.commands["bump"].model is Bump
    assert entity.commands["reset"].summary == "Start again from zero."
    assert patient.commands["admit"].summary.startswith("Admit the patient to a ward and bed")


# -- deciding ----------------------------------------------------------------------------------
@pytest.mark.parametrize("returned", [None, "Bumped", 42, {"by": 1}, [Bumped(by=1), "x"]])
def test_a_handler_returning_neither_events_nor_reply_is_a_type_error(returned: Any) -> None:
    entity = EventSourcedEntity("odd", state=Counter)

    @entity.command("bump")
    def bump(state: Counter, command: Bump) -> Any:
        return returned

    with pytest.raises(TypeError, match="odd"):
        entity.decide(Counter(), "bump", Bump())


def test_a_single_event_a_list_and_a_reply_are_all_normalised() -> None:
    decision = counter_entity().decide(Counter(), "bump", Bump(by=2))
    assert decision.events == (Bumped(by=2),)
    assert decision.reply is None
    kit = EntityTestKit(account).given(AccountOpened(owner="x", currency="EUR"))
    outcome = kit.given(MoneyDeposited(amount=10)).when("withdraw", Withdraw(amount=4))
    outcome.expect_events(MoneyWithdrawn(amount=4)).expect_reply(balance=6)
    outcome.expect_state(balance=6)


def test_applying_an_event_without_a_handler_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="no event handler for Renamed"):
        counter_entity().apply(Counter(), Renamed(name="x"))


# -- stored events and upcasting ---------------------------------------------------------------
def test_a_stored_v1_account_opened_is_upcast_with_the_default_currency() -> None:
    stored = {"owner": "x"}
    event = account.event_from_stored("AccountOpened", 1, stored)
    assert event == AccountOpened(owner="x", currency="EUR")
    assert stored == {"owner": "x"}, "the stored data must not be mutated"


def test_a_stored_event_at_the_current_version_is_not_upcast() -> None:
    event = account.event_from_stored("AccountOpened", 2, {"owner": "x", "currency": "GBP"})
    assert event == AccountOpened(owner="x", currency="GBP")


def test_a_stored_event_newer_than_the_code_is_refused_not_misread() -> None:
    with pytest.raises(LookupError, match="v3 is newer than this code's v2"):
        account.event_from_stored("AccountOpened", 3, {"owner": "x", "currency": "EUR"})


def test_an_empty_type_name_is_refused() -> None:
    with pytest.raises(ValueError, match="type_name must not be empty"):

        class Nameless(Event, type_name=""):
            pass


def test_expect_reply_fails_on_a_missing_key() -> None:
    kit = EntityTestKit(account).given(AccountOpened(owner="x", currency="EUR"))
    outcome = kit.given(MoneyDeposited(amount=10)).when("withdraw", Withdraw(amount=4))
    with pytest.raises(AssertionError, match="reply has no 'missing'"):
        outcome.expect_reply(missing=None)


def test_a_missing_upcaster_is_a_lookup_error() -> None:
    entity = EventSourcedEntity("renaming", state=Counter)
    entity.register_event(Renamed)
    entity.upcaster("counter-renamed", from_version=2)(lambda data: data)
    with pytest.raises(LookupError, match="no upcaster for counter-renamed v1"):
        entity.event_from_stored("counter-renamed", 1, {"name": "x"})


def test_an_upcaster_chain_runs_every_step_in_order() -> None:
    entity = EventSourcedEntity("renaming", state=Counter)
    entity.register_event(Renamed)
    entity.upcaster("counter-renamed", from_version=1)(lambda d: {"title": d["label"]})
    entity.upcaster("counter-renamed", from_version=2)(lambda d: {"name": d["title"].upper()})
    event = entity.event_from_stored("counter-renamed", 1, {"label": "ward"})
    assert event == Renamed(name="WARD")


def test_an_unknown_stored_type_is_a_lookup_error() -> None:
    with pytest.raises(LookupError, match="unknown stored event type 'AccountClosed'"):
        account.event_from_stored("AccountClosed", 1, {})


# -- state schema fingerprint ------------------------------------------------------------------
class CounterV2(BaseModel):
    value: int = 0
    label: str = ""


def test_the_state_schema_fingerprint_changes_with_the_state_model() -> None:
    before = EventSourcedEntity("counter", state=Counter).state_schema
    after = EventSourcedEntity("counter", state=CounterV2).state_schema
    assert before != after
    assert before == EventSourcedEntity("other", state=Counter).state_schema


# -- the testkit reports failures --------------------------------------------------------------
def test_the_testkit_folds_given_events_into_state() -> None:
    kit = EntityTestKit(counter_entity()).given(Bumped(by=2), Bumped(by=3))
    assert kit.state == Counter(value=5)
    kit.when("bump", {"by": 1}).expect_events(Bumped(by=1)).expect_state(value=6)


def test_expect_events_with_the_wrong_events_fails() -> None:
    outcome = EntityTestKit(counter_entity()).when("bump", Bump(by=1))
    with pytest.raises(AssertionError, match="expected events"):
        outcome.expect_events(Bumped(by=2))
    with pytest.raises(AssertionError):
        outcome.expect_no_events()


def test_expect_rejection_when_the_command_succeeded_fails() -> None:
    outcome = EntityTestKit(counter_entity()).when("bump", Bump(by=1))
    with pytest.raises(AssertionError, match="expected a rejection"):
        outcome.expect_rejection()


def test_a_rejection_fails_expect_events_and_a_non_matching_reason() -> None:
    outcome = EntityTestKit(counter_entity()).when("bump", Bump(by=0))
    outcome.expect_rejection("by zero").expect_state(value=0)
    with pytest.raises(AssertionError, match="does not match"):
        outcome.expect_rejection("insufficient funds")
    with pytest.raises(AssertionError, match="was rejected"):
        outcome.expect_events()


def test_expect_state_and_expect_reply_report_mismatches() -> None:
    kit = EntityTestKit(account).given(AccountOpened(owner="x", currency="EUR"))
    deposited = kit.when("deposit", Deposit(amount=5))
    with pytest.raises(AssertionError, match=r"state\.balance"):
        deposited.expect_state(balance=4)
    with pytest.raises(AssertionError, match="expected state"):
        deposited.expect_state(Account())
    with pytest.raises(AssertionError, match="expected a reply"):
        deposited.expect_reply(balance=5)
    withdrawn = kit.given(MoneyDeposited(amount=5)).when("withdraw", Withdraw(amount=1))
    with pytest.raises(AssertionError, match=r"reply\['balance'\]: expected 5, got 4"):
        withdrawn.expect_reply(balance=5)


class Ping(Command):
    pass


class Pinged(Event):
    pass


class Ponged(Event):
    pass


class Nothing(BaseModel):
    pass


def test_an_event_a_command_returns_without_an_event_handler_fails_at_declaration() -> None:
    table = EventSourcedEntity("table-tennis", state=Nothing)

    @table.command("ping")
    def ping(state: Nothing, command: Ping) -> Pinged | list[Ponged]:
        return Pinged()

    @table.applies
    def pinged(state: Nothing, event: Pinged) -> Nothing:
        return state

    unhandled = r"table-tennis: no event handler \(@table-tennis\.applies\) for Ponged"
    with pytest.raises(ValueError, match=unhandled):
        Service("tennis", entities=[table])

    @table.applies
    def ponged(state: Nothing, event: Ponged) -> Nothing:
        return state

    assert Service("tennis", entities=[table]).entity_types["table-tennis"] is table
