"""The patient: admitted to a bed, observed (vital signs), transferred, discharged."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, Field

from app.sdk import Command, Event, EventSourcedEntity, Rejection

Name = Annotated[str, Field(min_length=1, max_length=200)]
Place = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[\w .-]+$")]
Consciousness = Literal[
    "A", "C", "V", "P", "U"
]  # ACVPU: Alert, new Confusion, Voice, Pain, Unresponsive
Spo2Scale = Literal[1, 2]


class Vitals(BaseModel):
    """One set of observations; bounds refuse what no living patient can show."""

    respiration_rate: int = Field(ge=0, le=80, description="Breaths per minute.")
    spo2: int = Field(ge=0, le=100, description="Oxygen saturation, %.")
    on_oxygen: bool = Field(description="Breathing supplemental oxygen (not air).")
    systolic_bp: int = Field(ge=0, le=300, description="mmHg.")
    pulse: int = Field(ge=0, le=300, description="Beats per minute.")
    consciousness: Consciousness
    temperature: float = Field(ge=25.0, le=45.0, description="Degrees Celsius.")


VITAL_SIGNS = tuple(Vitals.model_fields)


# -- commands ---------------------------------------------------------------------------------
class Admit(Command):
    name: Name
    ward: Place
    bed: Place
    spo2_scale: Spo2Scale = Field(
        default=1, description="2 for hypercapnic respiratory failure (target SpO2 88-92 %)."
    )


class RecordVitals(Command, Vitals):
    pass


class Transfer(Command):
    ward: Place
    bed: Place


class Discharge(Command):
    pass


# -- events -----------------------------------------------------------------------------------
class PatientAdmitted(Event):
    name: str
    ward: str
    bed: str
    spo2_scale: Spo2Scale = 1


class VitalsRecorded(Event, Vitals):
    ward: str
    spo2_scale: Spo2Scale


class PatientTransferred(Event):
    from_ward: str
    from_bed: str
    ward: str
    bed: str


class PatientDischarged(Event):
    ward: str
    bed: str


# -- state ------------------------------------------------------------------------------------
class PatientState(BaseModel):
    status: Literal["new", "admitted", "discharged"] = "new"
    name: str | None = None
    ward: str | None = None
    bed: str | None = None
    spo2_scale: Spo2Scale = 1
    latest_vitals: Vitals | None = None
    vitals_recorded: int = 0
    admissions: int = 0


patient = EventSourcedEntity("patient", state=PatientState, description="A patient on a ward.")


def _require_admitted(state: PatientState) -> None:
    if state.status == "new":
        raise Rejection("the patient has not been admitted")
    if state.status == "discharged":
        raise Rejection("the patient has been discharged")


@patient.command("admit")
def admit(state: PatientState, command: Admit) -> PatientAdmitted:
    """Admit the patient to a ward and bed (again after a discharge: a new admission)."""
    if state.status == "admitted":
        raise Rejection(f"the patient is already admitted to {state.ward}, bed {state.bed}")
    return PatientAdmitted(**command.model_dump())


@patient.command("record-vitals")
def record_vitals(state: PatientState, command: RecordVitals) -> VitalsRecorded:
    """Record a set of vital signs; the vitals monitor scores them (NEWS2)."""
    _require_admitted(state)
    assert state.ward is not None
    return VitalsRecorded(**command.model_dump(), ward=state.ward, spo2_scale=state.spo2_scale)


@patient.command("transfer")
def transfer(state: PatientState, command: Transfer) -> PatientTransferred:
    """Move the patient to another ward or bed."""
    _require_admitted(state)
    assert state.ward is not None and state.bed is not None
    if (command.ward, command.bed) == (state.ward, state.bed):
        raise Rejection(f"the patient is already in {state.ward}, bed {state.bed}")
    return PatientTransferred(
        from_ward=state.ward, from_bed=state.bed, ward=command.ward, bed=command.bed
    )


@patient.command("discharge")
def discharge(state: PatientState, command: Discharge) -> PatientDischarged:
    """Discharge the patient; any open alert is resolved by the monitor."""
    _require_admitted(state)
    assert state.ward is not None and state.bed is not None
    return PatientDischarged(ward=state.ward, bed=state.bed)


@patient.applies
def admitted(state: PatientState, event: PatientAdmitted) -> PatientState:
    return state.model_copy(
        update={
            "status": "admitted",
            "name": event.name,
            "ward": event.ward,
            "bed": event.bed,
            "spo2_scale": event.spo2_scale,
            "latest_vitals": None,
            "admissions": state.admissions + 1,
        }
    )


@patient.applies
def vitals_recorded(state: PatientState, event: VitalsRecorded) -> PatientState:
    # The event was validated when it was decided or loaded: copy its readings without re-checking.
    vitals = Vitals.model_construct(**{name: getattr(event, name) for name in VITAL_SIGNS})
    return state.model_copy(
        update={"latest_vitals": vitals, "vitals_recorded": state.vitals_recorded + 1}
    )


@patient.applies
def transferred(state: PatientState, event: PatientTransferred) -> PatientState:
    return state.model_copy(update={"ward": event.ward, "bed": event.bed})


@patient.applies
def discharged(state: PatientState, event: PatientDischarged) -> PatientState:
    return state.model_copy(update={"status": "discharged"})
