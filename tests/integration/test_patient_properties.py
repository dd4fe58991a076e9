"""Property: whatever commands arrive, a patient's state is the fold of its stored events,
and a refused command changes nothing. Real PostgreSQL, snapshots every 3 events, cache on."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.journal.commands import CommandRequest
from app.journal.errors import CommandRejected
from app.journal.settings import CommandSettings
from app.services.ward import service as ward
from app.services.ward.patient import patient
from tests.support.runners import runner_on

places = st.text(alphabet="ABCW0123456789", min_size=1, max_size=3)
vitals = st.fixed_dictionaries(
    {
        "respiration_rate": st.integers(0, 80),
        "spo2": st.integers(0, 100),
        "on_oxygen": st.booleans(),
        "systolic_bp": st.integers(0, 300),
        "pulse": st.integers(0, 300),
        "consciousness": st.sampled_from("ACVPU"),
        "temperature": st.floats(25, 45, allow_nan=False).map(lambda t: round(t, 1)),
    }
)
commands = st.one_of(
    st.tuples(
        st.just("admit"),
        st.fixed_dictionaries(
            {
                "name": st.just("Pat"),
                "ward": places,
                "bed": places,
                "spo2_scale": st.sampled_from([1, 2]),
            }
        ),
    ),
    st.tuples(st.just("record-vitals"), vitals),
    st.tuples(st.just("transfer"), st.fixed_dictionaries({"ward": places, "bed": places})),
    st.tuples(st.just("discharge"), st.just({})),
)


def stored_events(conn: psycopg.Connection, entity_id: str) -> list[Any]:
    rows = conn.execute(
        "SELECT type, schema_version, data FROM events "
        "WHERE entity_type = 'patient' AND entity_id = %s ORDER BY version",
        [entity_id],
    ).fetchall()
    return [patient.event_from_stored(*row) for row in rows]


async def run_sequence(database_url: str, sequence: list[tuple[str, dict[str, Any]]]) -> None:
    entity_id = f"prop-{uuid.uuid4().hex[:10]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        async with runner_on(database_url, ward, CommandSettings(snapshot_every=3)) as runner:
            for name, body in sequence:
                before = len(stored_events(conn, entity_id))
                model = patient.commands[name].model.model_validate(body)
                try:
                    outcome = await runner.run(CommandRequest("patient", entity_id, name, model))
                except CommandRejected as rejected:
                    assert len(stored_events(conn, entity_id)) == before
                    assert rejected.version == before
                    continue
                events = stored_events(conn, entity_id)
                assert outcome.result.version == len(events) == before + len(outcome.result.events)
                loaded = await runner.journal.load(patient, entity_id)  # snapshot + tail
                assert loaded.version == len(events)
                assert loaded.state == patient.fold(events)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(commands, max_size=12))
def test_patient_state_is_always_the_fold_of_its_events(
    database_url: str, sequence: list[tuple[str, dict[str, Any]]]
) -> None:
    # Each example works on its own entity id, so sharing the function's database is sound.
    asyncio.run(run_sequence(database_url, sequence))
