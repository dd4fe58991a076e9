"""The vitals monitor: score every set of vital signs (NEWS2) and raise the patient's alert.

Stateless: everything it needs is in the event (VitalsRecorded carries the ward and the
patient's SpO2 scale). The alert entity decides whether a raise opens an episode, escalates
it, or changes nothing, so the monitor can send one on every worrying reading.
"""

from __future__ import annotations

from app.sdk import Action, EventMeta, Send
from app.services.ward import news2
from app.services.ward.alert import RaiseAlert, Resolve
from app.services.ward.patient import VITAL_SIGNS, PatientDischarged, Vitals, VitalsRecorded

vitals_monitor = Action(
    "vitals-monitor",
    start_from="beginning",
    description="Scores vital signs with NEWS2 and raises alerts at low-medium risk and above.",
)


def scored(event: VitalsRecorded) -> news2.News2:
    vitals = Vitals.model_construct(**{name: getattr(event, name) for name in VITAL_SIGNS})
    return news2.score(vitals, event.spo2_scale)


@vitals_monitor.handles
def on_vitals(event: VitalsRecorded, meta: EventMeta) -> Send | None:
    result = scored(event)
    if result.risk == "low":
        return None
    command = RaiseAlert(
        ward=event.ward, score=result.total, risk=result.risk, reasons=result.reasons
    )
    return Send("alert", meta.entity_id, "raise", command)


@vitals_monitor.handles
def on_discharged(event: PatientDischarged, meta: EventMeta) -> Send:
    return Send(
        "alert", meta.entity_id, "resolve", Resolve(note="patient discharged", if_open=True)
    )
