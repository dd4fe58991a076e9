"""Ward request bodies used across tests."""

from __future__ import annotations

from typing import Any

ADMIT: dict[str, Any] = {"name": "Ada Lovelace", "ward": "W1", "bed": "3"}

NORMAL_VITALS: dict[str, Any] = {
    "respiration_rate": 16,
    "spo2": 97,
    "on_oxygen": False,
    "systolic_bp": 125,
    "pulse": 72,
    "consciousness": "A",
    "temperature": 37.0,
}


def vitals(**changes: Any) -> dict[str, Any]:
    return {**NORMAL_VITALS, **changes}


# NEWS2 11, high risk: what calls the outreach team (2 + 2 + 1 + 2 + 3 + 1).
DETERIORATING = vitals(
    respiration_rate=24, spo2=93, systolic_bp=105, pulse=112, consciousness="V", temperature=38.4
)
