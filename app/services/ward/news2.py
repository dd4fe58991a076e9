"""NEWS2, the National Early Warning Score 2 (Royal College of Physicians, 2017).

Pure functions, one per row of the chart, so each band can be checked against the chart on
its own; `score` adds them up and maps the aggregate to the clinical risk that drives the
ward's alerts. No I/O and no clock: the same observations always give the same score.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from app.services.ward.patient import Consciousness, Spo2Scale, Vitals

Risk = Literal["low", "low-medium", "medium", "high"]

# The chart's rows in its own order; `News2.parameters` and `News2.reasons` follow it so an
# alert lists its reasons the way a clinician reads the chart.
PARAMETERS: tuple[str, ...] = (
    "respiration_rate",
    "spo2",
    "air_or_oxygen",
    "systolic_bp",
    "pulse",
    "consciousness",
    "temperature",
)

# A single parameter at this score is a "red score": urgent review even when the total is low.
RED_SCORE = 3


# -- one function per chart row ---------------------------------------------------------------
def respiration_rate_score(rate: int) -> int:
    """Breaths per minute: both slow and fast breathing signal deterioration."""
    if rate <= 8:
        return 3
    if rate <= 11:
        return 1
    if rate <= 20:
        return 0
    if rate <= 24:
        return 2
    return 3


def spo2_scale_1_score(spo2: int) -> int:
    """SpO2 % on Scale 1, for patients whose target saturation is the usual 96 % and above."""
    if spo2 <= 91:
        return 3
    if spo2 <= 93:
        return 2
    if spo2 <= 95:
        return 1
    return 0


def spo2_scale_2_score(spo2: int, on_oxygen: bool) -> int:
    """SpO2 % on Scale 2, for hypercapnic respiratory failure (target 88-92 %).

    For these patients a high saturation on oxygen is itself a danger (it can worsen CO2
    retention), so above the target band it scores only on oxygen; on air it scores 0.
    """
    if spo2 <= 83:
        return 3
    if spo2 <= 85:
        return 2
    if spo2 <= 87:
        return 1
    if spo2 <= 92 or not on_oxygen:
        return 0
    if spo2 <= 94:
        return 1
    if spo2 <= 96:
        return 2
    return 3


def spo2_score(spo2: int, on_oxygen: bool, spo2_scale: Spo2Scale = 1) -> int:
    """SpO2 on the patient's prescribed scale; the scale is a clinical decision, not a reading."""
    if spo2_scale == 1:
        return spo2_scale_1_score(spo2)
    if spo2_scale == 2:
        return spo2_scale_2_score(spo2, on_oxygen)
    raise ValueError(f"spo2_scale must be 1 or 2, not {spo2_scale!r}")


def air_or_oxygen_score(on_oxygen: bool) -> int:
    """Needing supplemental oxygen scores 2 on either SpO2 scale: the saturation is assisted."""
    return 2 if on_oxygen else 0


def systolic_bp_score(systolic_bp: int) -> int:
    """Systolic blood pressure, mmHg: low for shock, very high (>= 220) for crisis."""
    if systolic_bp <= 90:
        return 3
    if systolic_bp <= 100:
        return 2
    if systolic_bp <= 110:
        return 1
    if systolic_bp <= 219:
        return 0
    return 3


def pulse_score(pulse: int) -> int:
    """Heart rate, beats per minute."""
    if pulse <= 40:
        return 3
    if pulse <= 50:
        return 1
    if pulse <= 90:
        return 0
    if pulse <= 110:
        return 1
    if pulse <= 130:
        return 2
    return 3


def consciousness_score(consciousness: Consciousness) -> int:
    """ACVPU: anything but Alert (new confusion included) is a red score on its own."""
    return 0 if consciousness == "A" else 3


def temperature_score(temperature: float) -> int:
    """Degrees Celsius, scored by the chart's upper bounds so extra decimals fall in a band.

    The chart prints one-decimal bands (35.1-36.0, ...); a reading such as 36.05 lies between
    two printed bands, and comparing against each band's upper bound places it unambiguously.
    """
    if temperature <= 35.0:
        return 3
    if temperature <= 36.0:
        return 1
    if temperature <= 38.0:
        return 0
    if temperature <= 39.0:
        return 1
    return 2


# -- aggregate and risk -----------------------------------------------------------------------
def clinical_risk(total: int, parameters: dict[str, int]) -> Risk:
    """The chart's clinical risk: the aggregate decides, except that a lone red score lifts an
    otherwise low (0-4) total to low-medium, because one extreme sign needs urgent review."""
    if total >= 7:
        return "high"
    if total >= 5:
        return "medium"
    if any(points >= RED_SCORE for points in parameters.values()):
        return "low-medium"
    return "low"


@dataclass(frozen=True, slots=True)
class News2:
    """A scored set of observations: the aggregate, its risk, and each parameter's points."""

    total: int
    risk: Risk
    parameters: dict[str, int] = field(hash=False)

    @property
    def reasons(self) -> list[str]:
        """The parameters that scored, in chart order: what an alert tells the clinician."""
        return [name for name in PARAMETERS if self.parameters.get(name, 0) > 0]


def score(vitals: Vitals, spo2_scale: Spo2Scale = 1) -> News2:
    """Score one set of observations on the patient's SpO2 scale (1 unless prescribed 2)."""
    parameters = {
        "respiration_rate": respiration_rate_score(vitals.respiration_rate),
        "spo2": spo2_score(vitals.spo2, vitals.on_oxygen, spo2_scale),
        "air_or_oxygen": air_or_oxygen_score(vitals.on_oxygen),
        "systolic_bp": systolic_bp_score(vitals.systolic_bp),
        "pulse": pulse_score(vitals.pulse),
        "consciousness": consciousness_score(vitals.consciousness),
        "temperature": temperature_score(vitals.temperature),
    }
    total = sum(parameters.values())
    return News2(total=total, risk=clinical_risk(total, parameters), parameters=parameters)
