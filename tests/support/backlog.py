"""A ward backlog written straight through the journal: admissions, then vital signs.

The readings vary (pulse 51-110, NEWS2 0 or 1: never an alert), so every patient's board row
has a score history that a double or a missed event would change.
"""

from __future__ import annotations

import asyncio
import uuid

from psycopg_pool import AsyncConnectionPool

from app.journal.repository import Journal, PendingAppend
from app.services.ward import news2
from app.services.ward.patient import PatientAdmitted, Vitals, VitalsRecorded
from tests.support.ward import vitals


def reading(patient: int, n: int) -> VitalsRecorded:
    return VitalsRecorded(**vitals(pulse=51 + (patient * 7 + n) % 60), ward="W1", spo2_scale=1)


def expected_scores(patient: int, readings: int) -> list[int]:
    return [
        news2.score(Vitals(**reading(patient, n).model_dump(exclude={"ward", "spo2_scale"}))).total
        for n in range(readings)
    ]


async def ward_backlog(database_url: str, *, patients: int, readings: int, chunk: int = 50) -> None:
    pool = AsyncConnectionPool(
        database_url, min_size=1, max_size=4, kwargs={"autocommit": True}, open=False
    )
    await pool.open(wait=True)
    journal = Journal(pool)

    async def one(patient: int) -> None:
        admitted = PatientAdmitted(name=f"Patient {patient}", ward="W1", bed=str(patient))
        await journal.append(
            PendingAppend("patient", f"p{patient}", 1, [(uuid.uuid4(), admitted)], {})
        )
        for start in range(0, readings, chunk):
            events = [
                (uuid.uuid4(), reading(patient, n))
                for n in range(start, min(readings, start + chunk))
            ]
            await journal.append(
                PendingAppend("patient", f"p{patient}", 2 + start, events, {"command": "bulk"})
            )

    try:
        await asyncio.gather(*(one(patient) for patient in range(patients)))
    finally:
        await pool.close()
