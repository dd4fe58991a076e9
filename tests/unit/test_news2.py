"""NEWS2 scoring, pure: every band boundary of the RCP 2017 chart, the clinical risk, and
properties over the full range of observations the Vitals model accepts."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from app.services.ward.news2 import (
    PARAMETERS,
    News2,
    Risk,
    air_or_oxygen_score,
    clinical_risk,
    consciousness_score,
    pulse_score,
    respiration_rate_score,
    score,
    spo2_scale_1_score,
    spo2_scale_2_score,
    spo2_score,
    systolic_bp_score,
    temperature_score,
)
from app.services.ward.patient import Consciousness, Spo2Scale, Vitals

NORMAL: dict[str, Any] = {
    "respiration_rate": 16,
    "spo2": 98,
    "on_oxygen": False,
    "systolic_bp": 120,
    "pulse": 70,
    "consciousness": "A",
    "temperature": 37.0,
}


def vitals(**changes: Any) -> Vitals:
    """Normal observations (every parameter scores 0), with the given readings changed."""
    return Vitals(**{**NORMAL, **changes})


# -- each chart row, both sides of every boundary ---------------------------------------------
@pytest.mark.parametrize(
    ("rate", "expected"),
    [(0, 3), (8, 3), (9, 1), (11, 1), (12, 0), (20, 0), (21, 2), (24, 2), (25, 3), (80, 3)],
)
def test_respiration_rate_scores_by_band(rate: int, expected: int) -> None:
    assert respiration_rate_score(rate) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [(0, 3), (91, 3), (92, 2), (93, 2), (94, 1), (95, 1), (96, 0), (100, 0)],
)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_spo2_scale_1_scores_by_band_whether_on_air_or_oxygen(
    spo2: int, expected: int, on_oxygen: bool
) -> None:
    assert spo2_scale_1_score(spo2) == expected
    assert spo2_score(spo2, on_oxygen, 1) == expected


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [(0, 3), (83, 3), (84, 2), (85, 2), (86, 1), (87, 1), (88, 0), (92, 0)],
)
@pytest.mark.parametrize("on_oxygen", [False, True])
def test_spo2_scale_2_at_or_below_target_scores_the_same_on_air_or_oxygen(
    spo2: int, expected: int, on_oxygen: bool
) -> None:
    assert spo2_scale_2_score(spo2, on_oxygen) == expected
    assert spo2_score(spo2, on_oxygen, 2) == expected


@pytest.mark.parametrize("spo2", [92, 93, 94, 95, 96, 97, 100])
def test_spo2_scale_2_above_target_on_air_scores_nothing(spo2: int) -> None:
    assert spo2_scale_2_score(spo2, on_oxygen=False) == 0


@pytest.mark.parametrize(
    ("spo2", "expected"),
    [(92, 0), (93, 1), (94, 1), (95, 2), (96, 2), (97, 3), (100, 3)],
)
def test_spo2_scale_2_above_target_on_oxygen_scores_over_oxygenation(
    spo2: int, expected: int
) -> None:
    assert spo2_scale_2_score(spo2, on_oxygen=True) == expected


def test_spo2_score_refuses_a_scale_other_than_1_or_2() -> None:
    with pytest.raises(ValueError, match="spo2_scale"):
        spo2_score(95, False, 3)  # type: ignore[arg-type]


@pytest.mark.parametrize(("on_oxygen", "expected"), [(False, 0), (True, 2)])
def test_oxygen_scores_two_and_air_nothing(on_oxygen: bool, expected: int) -> None:
    assert air_or_oxygen_score(on_oxygen) == expected


@pytest.mark.parametrize("spo2_scale", [1, 2])
def test_oxygen_counts_on_both_spo2_scales(spo2_scale: Spo2Scale) -> None:
    on_air = score(vitals(spo2=90, on_oxygen=False), spo2_scale)
    on_oxygen = score(vitals(spo2=90, on_oxygen=True), spo2_scale)
    assert on_air.parameters["air_or_oxygen"] == 0
    assert on_oxygen.parameters["air_or_oxygen"] == 2


@pytest.mark.parametrize(
    ("systolic_bp", "expected"),
    [
        (0, 3),
        (90, 3),
        (91, 2),
        (100, 2),
        (101, 1),
        (110, 1),
        (111, 0),
        (219, 0),
        (220, 3),
        (300, 3),
    ],
)
def test_systolic_bp_scores_by_band(systolic_bp: int, expected: int) -> None:
    assert systolic_bp_score(systolic_bp) == expected


@pytest.mark.parametrize(
    ("pulse", "expected"),
    [
        (0, 3),
        (40, 3),
        (41, 1),
        (50, 1),
        (51, 0),
        (90, 0),
        (91, 1),
        (110, 1),
        (111, 2),
        (130, 2),
        (131, 3),
        (300, 3),
    ],
)
def test_pulse_scores_by_band(pulse: int, expected: int) -> None:
    assert pulse_score(pulse) == expected


@pytest.mark.parametrize(
    ("consciousness", "expected"), [("A", 0), ("C", 3), ("V", 3), ("P", 3), ("U", 3)]
)
def test_anything_but_alert_is_a_red_score(consciousness: Consciousness, expected: int) -> None:
    assert consciousness_score(consciousness) == expected


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [
        (25.0, 3),
        (35.0, 3),
        (35.1, 1),
        (36.0, 1),
        (36.1, 0),
        (38.0, 0),
        (38.1, 1),
        (39.0, 1),
        (39.1, 2),
        (45.0, 2),
    ],
)
def test_temperature_scores_by_band(temperature: float, expected: int) -> None:
    assert temperature_score(temperature) == expected


@pytest.mark.parametrize(
    ("temperature", "expected"),
    [(35.01, 1), (35.04, 1), (36.05, 0), (38.04, 1), (38.0001, 1), (39.05, 2), (34.99, 3)],
)
def test_temperature_with_extra_decimals_falls_by_upper_bound(
    temperature: float, expected: int
) -> None:
    assert temperature_score(temperature) == expected


# -- the aggregate ----------------------------------------------------------------------------
def test_all_normal_vitals_score_zero_and_low_risk() -> None:
    result = score(vitals())
    assert result == News2(total=0, risk="low", parameters=dict.fromkeys(PARAMETERS, 0))
    assert result.reasons == []


def test_parameters_are_keyed_in_chart_order() -> None:
    assert tuple(score(vitals()).parameters) == PARAMETERS


def test_reasons_name_the_parameters_that_scored_in_chart_order() -> None:
    result = score(vitals(temperature=39.5, pulse=45, respiration_rate=22, on_oxygen=True))
    assert result.reasons == ["respiration_rate", "air_or_oxygen", "pulse", "temperature"]


def test_the_patients_spo2_scale_changes_the_spo2_score() -> None:
    # 97 % on oxygen is fine on Scale 1 but over-oxygenation for a hypercapnic patient.
    reading = vitals(spo2=97, on_oxygen=True)
    assert score(reading).parameters["spo2"] == 0
    assert score(reading, spo2_scale=2).parameters["spo2"] == 3
    # 88 % is a red score on Scale 1 and on target on Scale 2.
    assert score(vitals(spo2=88), spo2_scale=1).parameters["spo2"] == 3
    assert score(vitals(spo2=88), spo2_scale=2).parameters["spo2"] == 0


def test_the_score_is_frozen() -> None:
    result = score(vitals())
    with pytest.raises(AttributeError):
        result.total = 5  # type: ignore[misc]


# -- clinical risk ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("changes", "total", "risk"),
    [
        pytest.param(
            {"respiration_rate": 21, "pulse": 95, "temperature": 38.5}, 4, "low", id="4-no-red"
        ),
        pytest.param({"respiration_rate": 25}, 3, "low-medium", id="3-one-red-respiration"),
        pytest.param({"consciousness": "C"}, 3, "low-medium", id="3-new-confusion"),
        pytest.param({"systolic_bp": 90, "pulse": 95}, 4, "low-medium", id="4-one-red-bp"),
        pytest.param(
            {"respiration_rate": 21, "spo2": 92, "temperature": 35.5}, 5, "medium", id="5-no-red"
        ),
        pytest.param({"respiration_rate": 25, "on_oxygen": True}, 5, "medium", id="5-with-one-red"),
        pytest.param(
            {"systolic_bp": 90, "pulse": 111, "temperature": 38.1},
            6,
            "medium",
            id="6-with-one-red",
        ),
        pytest.param(
            {"respiration_rate": 22, "spo2": 93, "pulse": 115}, 6, "medium", id="6-no-red"
        ),
        pytest.param(
            {"consciousness": "V", "respiration_rate": 21, "on_oxygen": True},
            7,
            "high",
            id="7-high",
        ),
    ],
)
def test_clinical_risk_follows_the_aggregate_and_red_scores(
    changes: dict[str, Any], total: int, risk: Risk
) -> None:
    result = score(vitals(**changes))
    assert (result.total, result.risk) == (total, risk)


@pytest.mark.parametrize(
    ("total", "red", "risk"),
    [
        (0, False, "low"),
        (4, False, "low"),
        (3, True, "low-medium"),
        (4, True, "low-medium"),
        (5, False, "medium"),
        (5, True, "medium"),
        (6, True, "medium"),
        (7, False, "high"),
        (7, True, "high"),
        (19, True, "high"),
    ],
)
def test_clinical_risk_thresholds(total: int, red: bool, risk: Risk) -> None:
    parameters = {"pulse": 3 if red else 1}
    assert clinical_risk(total, parameters) == risk


def test_a_deteriorating_patient_climbs_from_low_to_high() -> None:
    # A post-operative patient developing sepsis over a shift, observed every few hours.
    shift = [
        vitals(respiration_rate=18, spo2=96, systolic_bp=128, pulse=88, temperature=37.6),
        vitals(respiration_rate=21, spo2=96, systolic_bp=118, pulse=98, temperature=38.3),
        vitals(respiration_rate=23, spo2=95, systolic_bp=108, pulse=104, temperature=38.6),
        vitals(
            respiration_rate=26,
            spo2=93,
            on_oxygen=True,
            systolic_bp=98,
            pulse=118,
            consciousness="C",
            temperature=39.2,
        ),
    ]
    results = [score(reading) for reading in shift]
    assert [(r.total, r.risk) for r in results] == [
        (0, "low"),
        (4, "low"),  # RR 2, pulse 1, temperature 1
        (6, "medium"),  # RR 2, SpO2 1, BP 1, pulse 1, temperature 1
        (16, "high"),  # RR 3, SpO2 2, O2 2, BP 2, pulse 2, C 3, temperature 2
    ]
    assert results[-1].reasons == list(PARAMETERS)


# -- properties over every valid observation --------------------------------------------------
any_vitals = st.builds(
    Vitals,
    respiration_rate=st.integers(0, 80),
    spo2=st.integers(0, 100),
    on_oxygen=st.booleans(),
    systolic_bp=st.integers(0, 300),
    pulse=st.integers(0, 300),
    consciousness=st.sampled_from(["A", "C", "V", "P", "U"]),
    temperature=st.floats(25.0, 45.0, allow_nan=False, allow_infinity=False),
)


@given(reading=any_vitals, spo2_scale=st.sampled_from([1, 2]))
def test_the_score_is_consistent_for_any_valid_vitals(
    reading: Vitals, spo2_scale: Spo2Scale
) -> None:
    result = score(reading, spo2_scale)

    assert tuple(result.parameters) == PARAMETERS
    assert all(0 <= points <= 3 for points in result.parameters.values())
    assert result.total == sum(result.parameters.values())
    assert 0 <= result.total <= 20
    assert result.reasons == [name for name, points in result.parameters.items() if points > 0]

    if result.total >= 7:
        expected = "high"
    elif result.total >= 5:
        expected = "medium"
    elif 3 in result.parameters.values():
        expected = "low-medium"
    else:
        expected = "low"
    assert result.risk == expected


@given(reading=any_vitals, spo2_scale=st.sampled_from([1, 2]))
def test_each_parameter_is_scored_by_its_chart_row(reading: Vitals, spo2_scale: Spo2Scale) -> None:
    spo2_row = (
        spo2_scale_1_score(reading.spo2)
        if spo2_scale == 1
        else spo2_scale_2_score(reading.spo2, reading.on_oxygen)
    )
    assert score(reading, spo2_scale).parameters == {
        "respiration_rate": respiration_rate_score(reading.respiration_rate),
        "spo2": spo2_row,
        "air_or_oxygen": air_or_oxygen_score(reading.on_oxygen),
        "systolic_bp": systolic_bp_score(reading.systolic_bp),
        "pulse": pulse_score(reading.pulse),
        "consciousness": consciousness_score(reading.consciousness),
        "temperature": temperature_score(reading.temperature),
    }
