"""The View, Action and Timer declarations: mistakes are caught when the service is defined."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel
from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from app.sdk import Action, EventMeta, Send, Service, Timer, View
from app.services.ward.alert import RaiseAlert, Resolve
from app.services.ward.monitor import vitals_monitor
from app.services.ward.patient import PatientDischarged, VitalsRecorded, patient
from tests.support.bank import MoneyDeposited
from tests.support.ward import vitals


class NoteRow(SQLModel, table=True):
    __tablename__ = "test_sdk_notes"

    note_id: str = Field(sa_column=Column(Text, primary_key=True))
    text: str = Field(sa_column=Column(Text, nullable=False))


def meta(entity_id: str = "p1") -> EventMeta:
    return EventMeta(
        seq=1,
        event_id=uuid.uuid4(),
        entity_type="patient",
        entity_id=entity_id,
        version=1,
        recorded_at=datetime.now(UTC),
    )


def test_a_view_needs_a_table_model() -> None:
    class NotATable(BaseModel):
        key: str

    with pytest.raises(TypeError, match="table=True"):
        View("notes", table=NotATable)  # type: ignore[type-var]


def test_a_view_filters_and_sorts_only_its_columns() -> None:
    with pytest.raises(ValueError, match="'colour' is not a column"):
        View("notes", table=NoteRow, filters=["colour"])
    with pytest.raises(ValueError, match="lowercase"):
        View("Notes", table=NoteRow)


def test_a_view_handler_is_registered_once_per_event_type() -> None:
    view = View("notes", table=NoteRow)

    @view.handles
    def first(row: NoteRow | None, event: PatientDischarged, meta: EventMeta) -> None:
        return None

    with pytest.raises(ValueError, match="two handlers"):

        @view.handles
        def second(row: NoteRow | None, event: PatientDischarged, meta: EventMeta) -> None:
            return None


def test_a_service_refuses_a_consumer_of_events_nobody_emits() -> None:
    action = Action("stray", start_from="now")

    @action.handles
    def on_deposit(event: MoneyDeposited, meta: EventMeta) -> None:
        return None

    with pytest.raises(ValueError, match="no entity of the service emits"):
        Service("ward", entities=[patient], actions=[action])


def test_an_action_returns_commands_and_timers_only() -> None:
    action = Action("bad", start_from="now")

    @action.handles
    def on_discharged(event: PatientDischarged, meta: EventMeta) -> object:
        return ["not a command"]

    with pytest.raises(TypeError, match="Send/Timer"):
        action.effects(PatientDischarged(ward="W1", bed="1"), meta())


def test_a_timer_from_an_action_must_name_its_entity() -> None:
    action = Action("later", start_from="now")

    @action.handles
    def on_discharged(event: PatientDischarged, meta: EventMeta) -> Timer:
        return Timer("k", "resolve", Resolve(), after=timedelta(minutes=1))

    with pytest.raises(TypeError, match="names its entity"):
        action.effects(PatientDischarged(ward="W1", bed="1"), meta())


def test_a_timer_takes_exactly_one_time() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        Timer("k", "resolve", Resolve())
    with pytest.raises(ValueError, match="timezone-aware"):
        Timer("k", "resolve", Resolve(), at=datetime(2030, 1, 1))
    at = datetime(2030, 1, 1, tzinfo=UTC)
    assert Timer("k", "resolve", Resolve(), at=at).due_at() == at


# -- the vitals monitor, pure --------------------------------------------------------------------
def recorded(**changes: object) -> VitalsRecorded:
    return VitalsRecorded(**vitals(**changes), ward="W1", spo2_scale=1)


def test_normal_vitals_send_nothing() -> None:
    assert vitals_monitor.effects(recorded(), meta()) == []


def test_a_single_red_score_raises_a_low_medium_alert() -> None:
    (send,) = vitals_monitor.effects(recorded(consciousness="V"), meta("p9"))
    assert send == Send(
        "alert",
        "p9",
        "raise",
        RaiseAlert(ward="W1", score=3, risk="low-medium", reasons=["consciousness"]),
    )


def test_a_high_aggregate_raises_a_high_alert_with_every_reason() -> None:
    # RR 25 (3) + SpO2 91 (3) + pulse 131 (3): 9, high.
    (send,) = vitals_monitor.effects(recorded(respiration_rate=25, spo2=91, pulse=131), meta())
    assert isinstance(send, Send)
    assert send.body == RaiseAlert(
        ward="W1", score=9, risk="high", reasons=["respiration_rate", "spo2", "pulse"]
    )


def test_a_discharge_resolves_whatever_is_open() -> None:
    (send,) = vitals_monitor.effects(PatientDischarged(ward="W1", bed="1"), meta("p3"))
    assert send == Send("alert", "p3", "resolve", Resolve(note="patient discharged", if_open=True))
