"""The alert entity, pure: raise, escalate, acknowledge, resolve, and episodes."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError

from app.sdk import Timer
from app.sdk.testing import EntityTestKit
from app.services.ward.alert import (
    Acknowledge,
    AlertAcknowledged,
    AlertEscalated,
    AlertRaised,
    AlertResolved,
    AlertState,
    Escalate,
    RaiseAlert,
    Resolve,
    Risk,
    alert,
)

RISKS: list[Risk] = ["low-medium", "medium", "high"]
HIGHER = [(low, high) for i, low in enumerate(RISKS) for high in RISKS[i + 1 :]]
SAME_OR_LOWER = [(open_, new) for i, open_ in enumerate(RISKS) for new in RISKS[: i + 1]]


def raised(risk: Risk = "medium", *, episode: int = 1, score: int = 5) -> AlertRaised:
    return AlertRaised(ward="W1", score=score, risk=risk, reasons=["spo2"], episode=episode)


def raise_cmd(risk: Risk = "medium", *, score: int = 5) -> RaiseAlert:
    return RaiseAlert(ward="W1", score=score, risk=risk, reasons=["spo2"])


@pytest.fixture
def kit() -> EntityTestKit[AlertState]:
    return EntityTestKit(alert)


# -- raise -------------------------------------------------------------------------------------
def test_raising_with_nothing_open_opens_episode_one(kit: EntityTestKit[AlertState]) -> None:
    outcome = kit.when("raise", raise_cmd("medium"))
    outcome.expect_events(raised("medium"))
    outcome.expect_state(open=True, episode=1, ward="W1", risk="medium", acknowledged_by=None)


@pytest.mark.parametrize(("open_risk", "new_risk"), HIGHER)
def test_raising_at_a_higher_risk_escalates(
    kit: EntityTestKit[AlertState], open_risk: Risk, new_risk: Risk
) -> None:
    outcome = kit.given(raised(open_risk)).when("raise", raise_cmd(new_risk, score=9))
    outcome.expect_events(
        AlertEscalated(
            score=9,
            risk=new_risk,
            reasons=["spo2"],
            previous_risk=open_risk,
            reason="risk-increased",
        )
    )
    outcome.expect_state(open=True, episode=1, risk=new_risk, score=9)


def test_escalation_clears_the_acknowledgement(kit: EntityTestKit[AlertState]) -> None:
    history = (raised("medium"), AlertAcknowledged(clinician="Dr Who"))
    outcome = kit.given(*history).when("raise", raise_cmd("high", score=8))
    outcome.expect_state(risk="high", acknowledged_by=None)
    assert outcome.state_before.acknowledged_by == "Dr Who"


def test_an_escalated_alert_can_be_acknowledged_again(kit: EntityTestKit[AlertState]) -> None:
    history = (
        raised("medium"),
        AlertAcknowledged(clinician="Dr Who"),
        AlertEscalated(
            score=8, risk="high", reasons=[], previous_risk="medium", reason="risk-increased"
        ),
    )
    outcome = kit.given(*history).when("acknowledge", Acknowledge(clinician="Dr No"))
    outcome.expect_events(AlertAcknowledged(clinician="Dr No"))
    outcome.expect_state(acknowledged_by="Dr No")


@pytest.mark.parametrize(("open_risk", "new_risk"), SAME_OR_LOWER)
def test_raising_at_the_same_or_lower_risk_changes_nothing(
    kit: EntityTestKit[AlertState], open_risk: Risk, new_risk: Risk
) -> None:
    outcome = kit.given(raised(open_risk)).when("raise", raise_cmd(new_risk, score=2))
    outcome.expect_no_events()
    outcome.expect_reply(outcome="unchanged", risk=open_risk)
    assert outcome.state == outcome.state_before


def test_an_unchanged_raise_keeps_the_acknowledgement(kit: EntityTestKit[AlertState]) -> None:
    history = (raised("high"), AlertAcknowledged(clinician="Dr Who"))
    outcome = kit.given(*history).when("raise", raise_cmd("medium"))
    outcome.expect_no_events().expect_state(acknowledged_by="Dr Who", risk="high")


def test_a_raise_after_resolve_opens_episode_two(kit: EntityTestKit[AlertState]) -> None:
    history = (raised("high"), AlertAcknowledged(clinician="Dr Who"), AlertResolved(note=""))
    outcome = kit.given(*history).when("raise", raise_cmd("low-medium", score=1))
    outcome.expect_events(raised("low-medium", episode=2, score=1))
    outcome.expect_state(open=True, episode=2, risk="low-medium", acknowledged_by=None)


# -- acknowledge -------------------------------------------------------------------------------
def test_acknowledging_names_the_clinician(kit: EntityTestKit[AlertState]) -> None:
    outcome = kit.given(raised()).when("acknowledge", Acknowledge(clinician="Dr Who"))
    outcome.expect_events(AlertAcknowledged(clinician="Dr Who"))
    outcome.expect_state(acknowledged_by="Dr Who", open=True)


def test_acknowledging_with_nothing_open_is_rejected(kit: EntityTestKit[AlertState]) -> None:
    kit.when("acknowledge", Acknowledge(clinician="Dr Who")).expect_rejection("no alert is open")


def test_acknowledging_a_resolved_alert_is_rejected(kit: EntityTestKit[AlertState]) -> None:
    outcome = kit.given(raised(), AlertResolved(note="")).when(
        "acknowledge", Acknowledge(clinician="Dr Who")
    )
    outcome.expect_rejection("no alert is open")


def test_acknowledging_twice_is_rejected_and_names_who_did(
    kit: EntityTestKit[AlertState],
) -> None:
    history = (raised(), AlertAcknowledged(clinician="Dr Who"))
    outcome = kit.given(*history).when("acknowledge", Acknowledge(clinician="Dr No"))
    outcome.expect_rejection("already acknowledged by Dr Who")


def test_an_acknowledgement_needs_a_clinician() -> None:
    with pytest.raises(ValidationError):
        Acknowledge.model_validate({"clinician": ""})


# -- resolve -----------------------------------------------------------------------------------
def test_resolving_closes_the_episode(kit: EntityTestKit[AlertState]) -> None:
    history = (raised(), AlertAcknowledged(clinician="Dr Who"))
    outcome = kit.given(*history).when("resolve", Resolve(note="improved"))
    outcome.expect_events(AlertResolved(note="improved"))
    outcome.expect_state(AlertState(episode=1))


def test_resolving_with_nothing_open_is_rejected(kit: EntityTestKit[AlertState]) -> None:
    kit.when("resolve", Resolve()).expect_rejection("no alert is open")


def test_resolving_twice_is_rejected(kit: EntityTestKit[AlertState]) -> None:
    outcome = kit.given(raised(), AlertResolved(note="")).when("resolve", Resolve())
    outcome.expect_rejection("no alert is open")


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "body",
    [
        {"ward": "W1", "score": 21, "risk": "high"},
        {"ward": "W1", "score": -1, "risk": "high"},
        {"ward": "W1", "score": 5, "risk": "critical"},
        {"ward": "", "score": 5, "risk": "high"},
        {"ward": "W1", "score": 5, "risk": "high", "colour": "red"},
    ],
    ids=["score-21", "score-negative", "unknown-risk", "empty-ward", "unknown-field"],
)
def test_an_invalid_raise_is_refused(body: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        RaiseAlert.model_validate(body)


# -- the acknowledgement timer -------------------------------------------------------------------
def test_raising_sets_the_acknowledgement_timer(kit: EntityTestKit[AlertState]) -> None:
    kit.when("raise", raise_cmd("medium")).expect_timers(scheduled=("unacknowledged",))


def test_a_rise_in_risk_needs_a_new_acknowledgement_in_time(
    kit: EntityTestKit[AlertState],
) -> None:
    outcome = kit.given(raised("medium"), AlertAcknowledged(clinician="Dr A")).when(
        "raise", raise_cmd("high", score=8)
    )
    outcome.expect_timers(scheduled=("unacknowledged",))


def test_the_timer_waits_ward_ack_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SLUICE_WARD_ACK_MINUTES", "2.5")
    (timer,) = EntityTestKit(alert).when("raise", raise_cmd()).timers
    assert isinstance(timer, Timer)
    assert timer.after == timedelta(minutes=2.5)
    assert (timer.command, timer.body) == ("escalate", Escalate(episode=1))


def test_acknowledging_and_resolving_cancel_the_timer(kit: EntityTestKit[AlertState]) -> None:
    opened = kit.given(raised())
    opened.when("acknowledge", Acknowledge(clinician="Dr A")).expect_timers(
        cancelled=("unacknowledged",)
    )
    opened.when("resolve", Resolve()).expect_timers(cancelled=("unacknowledged",))


def test_an_unacknowledged_alert_escalates_when_its_timer_fires(
    kit: EntityTestKit[AlertState],
) -> None:
    outcome = kit.given(raised("medium", score=5)).when("escalate", Escalate(episode=1))
    outcome.expect_events(
        AlertEscalated(
            score=5,
            risk="medium",
            reasons=["spo2"],
            previous_risk="medium",
            reason="unacknowledged",
        )
    )
    outcome.expect_state(escalated_unacknowledged=True, risk="medium")


@pytest.mark.parametrize(
    "history",
    [
        pytest.param([raised(), AlertAcknowledged(clinician="Dr A")], id="acknowledged"),
        pytest.param([raised(), AlertResolved(note="")], id="resolved"),
        pytest.param([raised(), AlertResolved(note=""), raised(episode=2)], id="later-episode"),
    ],
)
def test_a_late_timer_changes_nothing(
    kit: EntityTestKit[AlertState], history: list[AlertRaised]
) -> None:
    outcome = kit.given(*history).when("escalate", Escalate(episode=1))
    outcome.expect_no_events().expect_reply(outcome="unchanged")


def test_an_alert_escalates_once_for_want_of_acknowledgement(
    kit: EntityTestKit[AlertState],
) -> None:
    escalated = kit.given(raised()).when("escalate", Escalate(episode=1)).events
    kit.given(raised(), *escalated).when("escalate", Escalate(episode=1)).expect_no_events()


def test_resolve_if_open_answers_unchanged_when_nothing_is_open(
    kit: EntityTestKit[AlertState],
) -> None:
    kit.when("resolve", Resolve(if_open=True)).expect_no_events().expect_reply(outcome="unchanged")
