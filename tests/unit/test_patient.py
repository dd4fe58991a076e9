"""The patient entity, pure: admit, record vitals, transfer, discharge, and command validation."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from app.sdk.testing import EntityTestKit
from app.services.ward.patient import (
    Admit,
    Discharge,
    PatientAdmitted,
    PatientDischarged,
    PatientState,
    PatientTransferred,
    RecordVitals,
    Transfer,
    Vitals,
    VitalsRecorded,
    patient,
)
from tests.support.ward import ADMIT, NORMAL_VITALS, vitals

ADMITTED = PatientAdmitted(name="Ada Lovelace", ward="W1", bed="3")
DISCHARGED = PatientDischarged(ward="W1", bed="3")


@pytest.fixture
def kit() -> EntityTestKit[PatientState]:
    return EntityTestKit(patient)


# -- admit -------------------------------------------------------------------------------------
def test_a_new_patient_is_admitted_to_the_ward_and_bed(kit: EntityTestKit[PatientState]) -> None:
    outcome = kit.when("admit", Admit(**ADMIT))
    outcome.expect_events(ADMITTED)
    outcome.expect_state(status="admitted", ward="W1", bed="3", spo2_scale=1, admissions=1)


def test_admission_keeps_the_requested_spo2_scale(kit: EntityTestKit[PatientState]) -> None:
    outcome = kit.when("admit", {**ADMIT, "spo2_scale": 2})
    outcome.expect_events(PatientAdmitted(name="Ada Lovelace", ward="W1", bed="3", spo2_scale=2))
    outcome.expect_state(spo2_scale=2)


def test_admitting_an_admitted_patient_is_rejected(kit: EntityTestKit[PatientState]) -> None:
    kit.given(ADMITTED).when("admit", Admit(**ADMIT)).expect_rejection(
        "already admitted to W1, bed 3"
    )


def test_readmission_after_discharge_is_a_new_admission(
    kit: EntityTestKit[PatientState],
) -> None:
    again = PatientAdmitted(name="Ada Lovelace", ward="W2", bed="7")
    outcome = kit.given(ADMITTED, DISCHARGED).when("admit", {**ADMIT, "ward": "W2", "bed": "7"})
    outcome.expect_events(again)
    outcome.expect_state(status="admitted", ward="W2", bed="7", admissions=2, latest_vitals=None)


# -- record-vitals -----------------------------------------------------------------------------
def test_vitals_for_an_admitted_patient_are_recorded(kit: EntityTestKit[PatientState]) -> None:
    outcome = kit.given(ADMITTED).when("record-vitals", RecordVitals(**NORMAL_VITALS))
    outcome.expect_events(VitalsRecorded(**NORMAL_VITALS, ward="W1", spo2_scale=1))
    outcome.expect_state(latest_vitals=Vitals(**NORMAL_VITALS), vitals_recorded=1)


def test_vitals_carry_the_ward_and_spo2_scale_from_state(
    kit: EntityTestKit[PatientState],
) -> None:
    history = (
        PatientAdmitted(name="Ada Lovelace", ward="W1", bed="3", spo2_scale=2),
        PatientTransferred(from_ward="W1", from_bed="3", ward="ICU", bed="1"),
    )
    outcome = kit.given(*history).when("record-vitals", vitals(spo2=90))
    outcome.expect_events(VitalsRecorded(**vitals(spo2=90), ward="ICU", spo2_scale=2))


def test_vitals_for_a_patient_never_admitted_are_rejected(
    kit: EntityTestKit[PatientState],
) -> None:
    kit.when("record-vitals", NORMAL_VITALS).expect_rejection("not been admitted")


def test_vitals_for_a_discharged_patient_are_rejected(kit: EntityTestKit[PatientState]) -> None:
    outcome = kit.given(ADMITTED, DISCHARGED).when("record-vitals", NORMAL_VITALS)
    outcome.expect_rejection("has been discharged")


def test_latest_vitals_replace_the_previous_set(kit: EntityTestKit[PatientState]) -> None:
    first = VitalsRecorded(**NORMAL_VITALS, ward="W1", spo2_scale=1)
    outcome = kit.given(ADMITTED, first).when("record-vitals", vitals(pulse=120))
    outcome.expect_state(latest_vitals=Vitals(**vitals(pulse=120)), vitals_recorded=2)


# -- transfer ----------------------------------------------------------------------------------
def test_transfer_moves_the_patient_and_records_where_from(
    kit: EntityTestKit[PatientState],
) -> None:
    outcome = kit.given(ADMITTED).when("transfer", Transfer(ward="W2", bed="9"))
    outcome.expect_events(PatientTransferred(from_ward="W1", from_bed="3", ward="W2", bed="9"))
    outcome.expect_state(status="admitted", ward="W2", bed="9")


def test_transfer_to_another_bed_on_the_same_ward_is_allowed(
    kit: EntityTestKit[PatientState],
) -> None:
    outcome = kit.given(ADMITTED).when("transfer", Transfer(ward="W1", bed="4"))
    outcome.expect_events(PatientTransferred(from_ward="W1", from_bed="3", ward="W1", bed="4"))


def test_transfer_to_the_same_ward_and_bed_is_rejected(
    kit: EntityTestKit[PatientState],
) -> None:
    outcome = kit.given(ADMITTED).when("transfer", Transfer(ward="W1", bed="3"))
    outcome.expect_rejection("already in W1, bed 3")


def test_transfer_of_a_patient_never_admitted_is_rejected(
    kit: EntityTestKit[PatientState],
) -> None:
    kit.when("transfer", Transfer(ward="W2", bed="9")).expect_rejection("not been admitted")


def test_transfer_of_a_discharged_patient_is_rejected(kit: EntityTestKit[PatientState]) -> None:
    outcome = kit.given(ADMITTED, DISCHARGED).when("transfer", Transfer(ward="W2", bed="9"))
    outcome.expect_rejection("has been discharged")


# -- discharge ---------------------------------------------------------------------------------
def test_discharge_names_the_ward_and_bed_left(kit: EntityTestKit[PatientState]) -> None:
    moved = PatientTransferred(from_ward="W1", from_bed="3", ward="W2", bed="9")
    outcome = kit.given(ADMITTED, moved).when("discharge", Discharge())
    outcome.expect_events(PatientDischarged(ward="W2", bed="9"))
    outcome.expect_state(status="discharged")


def test_discharging_a_patient_never_admitted_is_rejected(
    kit: EntityTestKit[PatientState],
) -> None:
    kit.when("discharge", Discharge()).expect_rejection("not been admitted")


def test_discharging_twice_is_rejected(kit: EntityTestKit[PatientState]) -> None:
    kit.given(ADMITTED, DISCHARGED).when("discharge", Discharge()).expect_rejection("discharged")


# -- validation --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes",
    [
        {"spo2": 101},
        {"spo2": -1},
        {"pulse": -1},
        {"pulse": 301},
        {"temperature": 50},
        {"temperature": 24.9},
        {"respiration_rate": 81},
        {"systolic_bp": 301},
        {"consciousness": "X"},
        {"heart_rhythm": "sinus"},
    ],
    ids=lambda changes: "-".join(f"{k}={v}" for k, v in changes.items()),
)
def test_physiologically_impossible_vitals_are_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        RecordVitals.model_validate(vitals(**changes))


@pytest.mark.parametrize(
    "changes",
    [
        {"spo2": 0},
        {"spo2": 100},
        {"pulse": 0},
        {"pulse": 300},
        {"temperature": 25},
        {"temperature": 45},
        {"respiration_rate": 0},
        {"respiration_rate": 80},
        {"consciousness": "C"},
    ],
    ids=lambda changes: "-".join(f"{k}={v}" for k, v in changes.items()),
)
def test_boundary_vitals_are_accepted(changes: dict[str, Any]) -> None:
    command = RecordVitals.model_validate(vitals(**changes))
    for name, value in changes.items():
        assert getattr(command, name) == value


def test_a_vitals_command_missing_a_reading_is_refused() -> None:
    incomplete = {k: v for k, v in NORMAL_VITALS.items() if k != "pulse"}
    with pytest.raises(ValidationError):
        RecordVitals.model_validate(incomplete)


@pytest.mark.parametrize(
    "changes",
    [{"spo2_scale": 3}, {"ward": ""}, {"bed": "3; DROP"}, {"name": ""}, {"room": "12"}],
    ids=["scale-3", "empty-ward", "bad-bed", "empty-name", "unknown-field"],
)
def test_an_invalid_admission_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Admit.model_validate({**ADMIT, **changes})


def test_a_transfer_with_an_unknown_field_is_refused() -> None:
    with pytest.raises(ValidationError):
        Transfer.model_validate({"ward": "W2", "bed": "9", "floor": 2})
